"""Rich tool results: their JSON form is plain JSON (for the store, MLflow and worker processes) and
comes back as the same blocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from toolnexus.core.content import MARKER, Audio, Content, EmbeddedResource, Image, Text, is_content, parse_content


def test_blocks_dump_to_json_and_parse_back(tmp_path: Path) -> None:
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG fake")
    content = Content("Summary:", Image(path=picture), Audio(data=b"RIFF", mime_type="audio/wav"),
                      EmbeddedResource(uri="file:///r.bin", blob=b"\x00\x01"), data={"rows": 3})
    dumped = TypeAdapter(Content).dump_python(content, mode="json")
    assert json.loads(json.dumps(dumped)) == dumped  # JSON-safe
    assert dumped[MARKER] == "mixed" and is_content(dumped)
    image = dumped["blocks"][1]
    assert image == {MARKER: "image", "data": "iVBORyBmYWtl", "mimeType": "image/png"}  # mime guessed from .png
    back = parse_content(dumped)
    assert back == content and isinstance(back.blocks[0], Text)
    assert back.blocks[1].raw() == b"\x89PNG fake"  # type: ignore[union-attr]


def test_a_single_block_parses_as_content() -> None:
    dumped = Image(data="aGk=", mime_type="image/gif").model_dump(mode="json")
    assert parse_content(dumped).blocks == [Image(data="aGk=", mime_type="image/gif")]
    assert not is_content({"type": "image", "data": "aGk="})  # plain data is never taken for content


def test_an_embedded_resource_has_text_or_blob() -> None:
    with pytest.raises(ValidationError, match="exactly one of text= or blob="):
        EmbeddedResource(uri="x://y")
    with pytest.raises(ValueError, match="unknown content kind"):
        parse_content({MARKER: "video"})
