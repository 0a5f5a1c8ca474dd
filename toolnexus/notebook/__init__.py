"""Layer 6: toolnexus inside a notebook kernel — the tool browser widget (``browser``).

Nothing is imported eagerly: ipywidgets loads only when a widget is used.
"""
