"""How the state store writes a model as JSON text, whatever text it holds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def model_json(model: BaseModel) -> str:
    """``model`` as JSON text. A lone surrogate in it (an undecodable file name in a tool's output, as
    ``os.listdir`` gives it) is written as the text ``\\udxxx``: pydantic refuses to encode one, and UTF-8
    cannot hold one, yet the record of the call or step must not be lost for it."""
    try:
        return model.model_dump_json()
    except ValueError:  # pydantic's serialisation error or a UnicodeEncodeError, as the text's place decides
        # Rare: the text is made valid in a copy of the model, which pydantic then writes as usual.
        return type(model).model_validate(_valid(model.model_dump(round_trip=True))).model_dump_json()


def _valid(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_valid(key): _valid(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_valid(item) for item in value)
    return value
