"""``python -m toolnexus.cli``."""

from toolnexus.cli import main

main()
