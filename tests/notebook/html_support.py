"""Reading the displays' HTML back as data: table rows as text, SVG nodes and edges (a real HTML parser)."""

from __future__ import annotations

from html.parser import HTMLParser


class Reader(HTMLParser):
    """Collects table rows (cell texts), SVG node step ids and edge labels, and script tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.nodes: list[str] = []
        self.edges: list[str] = []
        self.scripts = 0
        self.svgs = 0
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "svg":
            self.svgs += 1
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "g" and found.get("data-step") is not None:
            self.nodes.append(str(found["data-step"]))
        elif tag == "path" and found.get("data-edge") is not None:
            self.edges.append(str(found["data-edge"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read(html: str) -> Reader:
    """``html`` parsed."""
    reader = Reader()
    reader.feed(html)
    reader.close()
    return reader
