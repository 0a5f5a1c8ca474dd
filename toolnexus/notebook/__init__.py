"""Layer 6: toolnexus inside a notebook kernel — the IPython extension and magics (``ipython``, ``magics*``),
rich display (``display``), the tool browser (``browser``), the live run view (``runview``), the governance
review widget (``review*``) and past runs (``runs*``).

Nothing is imported eagerly: ipywidgets loads only when a widget is used.
"""
