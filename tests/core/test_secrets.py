"""Scrubbing credentials out of data: named keys and pairs, known token formats, 40-hex keys, high-entropy
strings, and the known secrets (environment, declared) in part or encoded; log records and channels."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from toolnexus.core.context import CallChannel
from toolnexus.core.errors import ErrorKind, ToolError
from toolnexus.core.secrets import (
    REDACTED,
    KnownSecrets,
    ScrubbingChannel,
    declare_named_secrets,
    declare_secret,
    install_log_scrubbing,
    scrub,
    scrub_error,
    scrub_text,
    secret_env_name,
)


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


# -- secret-named pairs in free text and error messages ----------------------------------------------------


@pytest.mark.parametrize(("text", "secret"), [
    ("connect with password=hunter2 now", "hunter2"),
    ("login failed (password: hunter2)", "hunter2"),
    ('bad request: {"user": "ada", "password": "hunter2"}', "hunter2"),
    ("db_password='s3 cr3t' rejected", "s3 cr3t"),
    ("X-Api-Key: abc123def", "abc123def"),
    ("Authorization: Bearer abc.def", "abc.def"),
    ("GET /v1?access_token=abc123&page=2", "abc123"),
    ("token=xK9#mQ2$vL8@pR4!", "xK9#mQ2$vL8@pR4!"),
    ("export CLIENT_SECRET=p@ss:word", "p@ss:word"),
])
def test_secret_named_pairs_in_free_text_lose_their_value(text: str, secret: str) -> None:
    scrubbed = scrub_text(text)
    assert secret not in scrubbed and REDACTED in scrubbed


def test_pairs_keep_what_follows_them() -> None:
    assert scrub_text("password=hunter2, user=ada") == "password=***, user=ada"
    assert scrub_text("password=***rest-of-it") == "password=***"  # a value only partly redacted goes whole
    assert scrub_text("GET /v1?access_token=abc123&page=2") == "GET /v1?access_token=***&page=2"


@pytest.mark.parametrize("text", [
    "max_tokens=512",
    "token_count: 3",
    "tokens: 12",
    "pass: 3 of 5",
    "api_token: {type: string}",  # a mission declaring an input
    'password: "${{ inputs.password }}"',  # a mission passing one on
    "password: ***",
])
def test_pairs_that_hold_no_secret_are_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_a_failed_calls_error_message_is_scrubbed() -> None:
    error = ToolError(kind=ErrorKind.RUNTIME_ERROR, message="auth failed for password=hunter2",
                      details={"dsn": "postgres://ada:hunter2@db/x", "password": "hunter2"})
    clean = scrub_error(error)
    assert "hunter2" not in clean.model_dump_json()
    assert scrub_error(ToolError(kind=ErrorKind.RUNTIME_ERROR, message="fine")).message == "fine"


# -- 40-hex keys and git object ids -----------------------------------------------------------------------

HEX40 = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"


def test_a_bare_40_hex_string_in_free_text_is_a_secret() -> None:
    assert scrub_text(f"signing with {HEX40} now") == f"signing with {REDACTED} now"
    assert scrub_text(HEX40.upper()) == REDACTED


@pytest.mark.parametrize("text", [f"commit {HEX40}", f"Commit: {HEX40}", f'"sha": "{HEX40}"', f"parent={HEX40}",
                                  f"https://github.com/o/r/commit/{HEX40}"])
def test_a_40_hex_string_said_to_be_an_object_id_is_kept(text: str) -> None:
    assert scrub_text(text) == text


def test_a_40_hex_value_of_an_object_id_field_is_kept_elsewhere_it_goes() -> None:
    data = {"commit": HEX40, "sha": HEX40, "head_sha": HEX40, "api_key": HEX40, "note": HEX40}
    assert scrub(data) == {"commit": HEX40, "sha": HEX40, "head_sha": HEX40, "api_key": REDACTED, "note": REDACTED}


# -- known secrets: the environment's and declared ones, in part and encoded --------------------------------


def _unique(n: int = 32) -> str:
    return "Zq7" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n - 3))


@pytest.mark.parametrize(("name", "secret"), [
    ("GITHUB_TOKEN", True), ("DB_PASSWORD", True), ("OPENAI_API_KEY", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("SERVICE_CREDENTIALS", True), ("NPM_AUTH", True), ("APIKEY", True), ("HF_TOKEN", True),
    ("PWD", False), ("OLDPWD", False), ("SSH_AUTH_SOCK", False), ("PYTHON_KEYRING_BACKEND", False),
    ("TOKENIZERS_PARALLELISM", False), ("PATH", False), ("HOME", False), ("PASSWORD_FILE", False),
])
def test_which_environment_variables_hold_secrets(name: str, secret: bool) -> None:
    assert secret_env_name(name) is secret


def test_an_environment_secret_goes_whole_in_part_and_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    value = _unique() + "#$@!"
    monkeypatch.setenv("TN_UNIT_SERVICE_TOKEN", value)
    raw = value.encode()
    leaks = {
        "whole": value, "fragment": value[5:15], "fragment of 8": value[9:17],
        "base64": base64.b64encode(raw).decode(), "urlsafe base64": base64.urlsafe_b64encode(raw).decode(),
        "base64 at offset 1": base64.b64encode(b"u:" + raw).decode(),
        "base64 at offset 2": base64.b64encode(b"ada:" + raw + b"\n").decode(),
        "hex": raw.hex(), "HEX": raw.hex().upper(), "url-encoded": quote(value, safe=""),
    }
    for how, leak in leaks.items():
        scrubbed = scrub_text(f"saw <{leak}> there")
        assert scrubbed.startswith("saw <") and scrubbed.endswith("> there"), how
        # What is left around the redaction are bits of the neighbours an encoding mixes in: never 8 in a row.
        remains = scrubbed[5:-7]
        assert REDACTED in remains and all(len(part) < 8 for part in remains.split(REDACTED)), (how, scrubbed)


def test_fragments_shorter_than_8_characters_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    value = _unique()
    monkeypatch.setenv("TN_UNIT_DB_PASSWORD", value)
    assert scrub_text(f"id {value[4:11]} ok") == f"id {value[4:11]} ok"


def test_an_environment_variable_set_later_is_known_and_one_removed_is_forgotten(
        monkeypatch: pytest.MonkeyPatch) -> None:
    value = _unique()
    assert scrub_text(value[:12]) == value[:12]
    monkeypatch.setenv("TN_UNIT_LATER_API_KEY", value)
    assert scrub_text(value[:12]) == REDACTED
    monkeypatch.delenv("TN_UNIT_LATER_API_KEY")
    assert scrub_text(value[:12]) == value[:12]


def test_a_secret_named_path_is_not_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GOOGLE_APPLICATION_CREDENTIALS names a file: blanking it would blank every path sharing its folders.
    key_file = tmp_path / "key.json"
    key_file.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    assert scrub_text(f"wrote {tmp_path}/out.csv") == f"wrote {tmp_path}/out.csv"


def test_declared_secrets_are_removed_in_part() -> None:
    value = _unique()
    declare_secret(value, "short")
    assert scrub_text(f"got {value[10:22]}!") == f"got {REDACTED}!"
    assert scrub_text("short and sweet") == "short and sweet"  # under 8 characters: too common to remove


def test_a_value_seen_under_a_secret_name_is_removed_wherever_it_appears_after() -> None:
    value = _unique()
    assert scrub({"api_token": value}) == {"api_token": REDACTED}
    assert scrub({"echo": f"hello {value[:-3]}"}) == {"echo": f"hello {REDACTED}"}


def test_declare_named_secrets_takes_the_secret_named_values_of_a_configuration() -> None:
    token, header = _unique(), _unique()
    declare_named_secrets({"mcp": {"servers": {"gh": {"env": {"GITHUB_TOKEN": token, "REGION": "eu-west-primary"},
                                                      "headers": {"Authorization": f"Bearer {header}"}}}}})
    assert scrub_text(f"<{token[4:20]}>") == f"<{REDACTED}>"
    assert scrub_text(f"<{header[2:12]}>") == f"<{REDACTED}>"
    assert scrub_text("eu-west-primary") == "eu-west-primary"


def test_a_binary_payload_loses_only_known_secrets() -> None:
    value = _unique()
    declare_secret(value)
    leak = base64.b64encode(value.encode()).decode()
    image = {"toolnexus:content": "image", "data": leak, "mimeType": "image/png"}
    data = scrub(image)["data"]
    assert REDACTED in data and leak not in data and all(len(part) < 8 for part in data.split(REDACTED))


def test_a_structure_of_ours_keeps_its_shape() -> None:
    plan = {"inputs": {"api_token": {"type": "string"}}, "steps": [{"with": {"password": "hunter2"}}]}
    assert scrub(plan, keep_shape=True) == {"inputs": {"api_token": {"type": "string"}},
                                            "steps": [{"with": {"password": REDACTED}}]}
    assert scrub(plan)["inputs"] == {"api_token": REDACTED}


def test_an_isolated_known_secrets_reads_the_environment_it_is_given() -> None:
    environ = {"APP_TOKEN": "Zq7aaaabbbbccccdddd", "HOME": "/home/ada/projects"}
    known = KnownSecrets(environ)
    assert known.redact("x Zq7aaaabbbb y") == f"x {REDACTED} y"
    assert known.redact("/home/ada/projects") == "/home/ada/projects"
    environ["OTHER_SECRET"] = "Ww9eeeeffffgggg"
    assert known.redact("Ww9eeeeffffgggg") == REDACTED  # noticed: the environment changed size


# -- log records and a caller's channel ---------------------------------------------------------------------


def test_log_records_are_scrubbed_as_they_are_made(caplog: pytest.LogCaptureFixture) -> None:
    install_log_scrubbing()
    install_log_scrubbing()  # once per process, however often asked
    log = logging.getLogger("tests.secrets")
    with caplog.at_level(logging.INFO, logger="tests.secrets"):
        log.info("connecting with %s", "password=hunter2")
        log.info("nothing to see in %s", "here")
        try:
            raise RuntimeError("token=xK9#mQ2$vL8@pR4!")
        except RuntimeError:
            log.exception("failed")
    secret_record, clean_record, _ = caplog.records
    assert secret_record.getMessage() == "connecting with password=***"
    assert clean_record.args == ("here",)  # a clean record is left as it was made
    assert "xK9#" not in caplog.text and "token=***" in caplog.text


class _Collecting(CallChannel):
    wants_progress = True
    log_level = logging.DEBUG

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.sent.append(message)

    def log(self, record: logging.LogRecord) -> None:
        self.sent.append(record.getMessage())

    def can(self, capability: str) -> bool:
        return capability == "sampling"


def test_a_scrubbing_channel_scrubs_what_goes_back_to_the_caller_and_passes_the_rest() -> None:
    inner = _Collecting()
    channel = ScrubbingChannel(inner)
    assert channel.wants_progress and channel.log_level == logging.DEBUG and channel.can("sampling")
    channel.progress(1, 2, "using password=hunter2")
    channel.log(logging.makeLogRecord({"msg": "key %s", "args": (HEX40,)}))
    assert inner.sent == ["using password=***", f"key {REDACTED}"]


def test_declared_secrets_are_bounded_the_oldest_forgotten_first() -> None:
    known = KnownSecrets({})
    values = [_unique() for _ in range(300)]
    known.declare(*values[:10])
    generation = known.generation
    known.declare(values[0])  # seen before: nothing to build
    assert known.generation == generation
    for value in values[10:]:
        known.declare(value)
    assert values[0] not in known and known.redact(values[0]) == values[0]
    assert values[-1] in known and known.redact(values[-1]) == REDACTED


def test_a_clean_value_comes_back_as_it_is_and_a_dirty_one_as_a_copy() -> None:
    clean = {"rows": [1, {"path": "/data/x.csv"}], "ok": True, "note": "fine"}
    assert scrub(clean) is clean  # nothing to redact: no copy
    dirty = {"rows": [1, {"password": "hunter2"}], "note": "fine"}
    scrubbed = scrub(dirty)
    assert scrubbed == {"rows": [1, {"password": REDACTED}], "note": "fine"}
    assert dirty["rows"][1] == {"password": "hunter2"}  # the original is left alone
