"""Rich tool results: images, audio and embedded resources, alone or mixed with text and data.

A tool returns one of these (or a :class:`Content` of several) instead of plain JSON data::

    @tool
    def chart(csv: str) -> Image:
        return Image(path="out/chart.png")            # or Image(data=png_bytes, mime_type="image/png")

    @tool
    def report(path: str) -> Content:
        return Content(Text("Summary:"), Image(path="out/chart.png"),
                       EmbeddedResource(uri="file:///out/report.json", text=report_json,
                                        mime_type="application/json"),
                       data={"rows": 120})

They are pydantic models whose JSON form (what the state store, MLflow and a worker process see) is plain
JSON with binary data in base64, marked by the key :data:`MARKER`; the MCP server turns that form into MCP
content blocks (and ``data`` into ``structuredContent``). Elsewhere (missions, notebooks) the JSON form is
the step's output as it is.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MARKER = "toolnexus:content"


def _b64(data: bytes | str) -> str:
    # A str is taken as base64 already (what a client or another tool handed over).
    return data if isinstance(data, str) else base64.b64encode(data).decode("ascii")


class _Block(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, serialize_by_alias=True)


class Text(_Block):
    """A text block."""

    kind: Literal["text"] = Field("text", alias=MARKER)
    text: str

    def __init__(self, text: str | None = None, **data: Any) -> None:
        super().__init__(**({"text": text} if text is not None else {}), **data)


class _Binary(_Block):
    data: str = Field(description="base64-encoded bytes")
    mime_type: str = Field(alias="mimeType")

    @model_validator(mode="before")
    @classmethod
    def _load(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        path = values.pop("path", None)
        if path is not None:
            values.setdefault("data", Path(path).read_bytes())
            guessed = mimetypes.guess_type(str(path))[0]
            if guessed and "mime_type" not in values and "mimeType" not in values:
                values["mime_type"] = guessed
        if isinstance(values.get("data"), bytes | bytearray):
            values["data"] = _b64(bytes(values["data"]))
        return values

    def raw(self) -> bytes:
        """The decoded bytes."""
        return base64.b64decode(self.data)


class Image(_Binary):
    """An image: ``Image(data=png_bytes, mime_type="image/png")`` or ``Image(path="chart.png")``."""

    kind: Literal["image"] = Field("image", alias=MARKER)


class Audio(_Binary):
    """A sound clip: ``Audio(data=wav_bytes, mime_type="audio/wav")`` or ``Audio(path="clip.wav")``."""

    kind: Literal["audio"] = Field("audio", alias=MARKER)


class EmbeddedResource(_Block):
    """A resource's contents inline: text (``text=``) or binary (``blob=`` bytes or base64)."""

    kind: Literal["resource"] = Field("resource", alias=MARKER)
    uri: str
    mime_type: str | None = Field(None, alias="mimeType")
    text: str | None = None
    blob: str | None = Field(None, description="base64-encoded bytes")

    @model_validator(mode="before")
    @classmethod
    def _encode(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("blob"), bytes | bytearray):
            values = {**values, "blob": _b64(bytes(values["blob"]))}
        return values

    @model_validator(mode="after")
    def _one_of(self) -> EmbeddedResource:
        if (self.text is None) == (self.blob is None):
            raise ValueError(f"EmbeddedResource {self.uri!r}: give exactly one of text= or blob=")
        return self


Block = Text | Image | Audio | EmbeddedResource


class Content(_Block):
    """Several blocks in order, and optionally JSON ``data`` for the caller's program (``structuredContent``)."""

    kind: Literal["mixed"] = Field("mixed", alias=MARKER)
    blocks: list[Block] = Field(default_factory=list)
    data: dict[str, Any] | None = None

    def __init__(self, *blocks: Block | str, **values: Any) -> None:
        if blocks:
            values["blocks"] = [Text(b) if isinstance(b, str) else b for b in blocks]
        super().__init__(**values)


def is_content(output: Any) -> bool:
    """Whether a tool output (in its JSON form) is rich content rather than plain data."""
    return isinstance(output, dict) and isinstance(output.get(MARKER), str)


def parse_content(output: dict[str, Any]) -> Content:
    """The JSON form of a block or a :class:`Content` back as a :class:`Content`."""
    kind = output.get(MARKER)
    if kind == "mixed":
        return Content.model_validate(output)
    block = {"text": Text, "image": Image, "audio": Audio, "resource": EmbeddedResource}.get(str(kind))
    if block is None:
        raise ValueError(f"unknown content kind {kind!r} (expected text, image, audio, resource or mixed)")
    return Content(block.model_validate(output))
