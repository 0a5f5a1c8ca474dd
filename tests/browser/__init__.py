"""Real browser tests: a real JupyterLab server and Debian's Chromium, driven by Playwright."""
