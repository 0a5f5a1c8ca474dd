"""Scrubbing credentials out of data: named keys, known token formats, high-entropy strings."""

from __future__ import annotations

import base64
import os

import pytest

from toolnexus.core.secrets import REDACTED, scrub, scrub_text


@pytest.mark.parametrize("secret", [
    "sk-abcdefghijklmnopqrstuv1234",
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "AKIAABCDEFGHIJKLMNOP",
    "xoxb-1234567890-abcdefghij",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "aZ3kL9qP2mX7vB1nC8dF4gH6jK0",
])
def test_known_and_high_entropy_tokens_are_redacted(secret: str) -> None:
    text = f"using {secret} now"
    assert secret not in scrub_text(text)
    assert scrub_text(text).startswith("using ") and scrub_text(text).endswith(" now")


def test_credentials_in_urls_and_auth_headers() -> None:
    assert scrub_text("https://ada:hunter2@example.com/x") == f"https://ada:{REDACTED}@example.com/x"
    assert "abcdef123456789xyz" not in scrub_text("Authorization: Bearer abcdef123456789xyz")


def test_secret_named_keys_are_redacted_at_any_depth() -> None:
    data = {"user": "ada", "password": "pw", "nested": [{"api_key": "k", "note": "fine"}], "token": None}
    assert scrub(data) == {"user": "ada", "password": REDACTED,
                           "nested": [{"api_key": REDACTED, "note": "fine"}], "token": None}


@pytest.mark.parametrize("safe", [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a hex digest
    "/home/ada/projects/toolnexus/missions/csv_report.yaml",
    "the quick brown fox jumps over the lazy dog",
    "run-1a20154d15c-dd9b8f",
])
def test_ordinary_values_are_left_alone(safe: str) -> None:
    assert scrub_text(safe) == safe


def test_long_base64_payloads_are_data_not_credentials() -> None:
    payload = base64.b64encode(os.urandom(3000)).decode()
    assert scrub_text(payload) == payload


def test_binary_content_blocks_keep_their_payload_other_fields_are_scrubbed() -> None:
    payload = base64.b64encode(bytes(range(48))).decode()  # token-sized, high-entropy
    assert scrub_text(payload) == REDACTED
    token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    image = {"toolnexus:content": "image", "data": payload, "mimeType": "image/png"}
    resource = {"toolnexus:content": "resource", "uri": f"https://x/{token}", "blob": payload}
    mixed = {"toolnexus:content": "mixed", "blocks": [image, resource], "data": {"note": payload}}
    out = scrub(mixed)
    assert out["blocks"][0] == image
    assert out["blocks"][1]["blob"] == payload and token not in out["blocks"][1]["uri"]
    assert out["data"] == {"note": REDACTED}  # structured data of a mixed result is not a payload
    assert scrub({"data": payload}) == {"data": REDACTED}  # nor is a `data` key outside a content block
