"""``toolnexus audit verify|report|tail`` as a user runs them: a real process, its exit code and output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from toolnexus.governance.audit import AuditLog, load_private_key
from toolnexus.store import StateStore


def toolnexus(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}  # a terminal's width: tables are not squeezed into 80 columns
    return subprocess.run([sys.executable, "-m", "toolnexus.cli", "audit", *args, "-w", str(workspace)],
                          capture_output=True, text=True, timeout=120, env=env)


def _write_key(path: Path, key: Ed25519PrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


@pytest.fixture
def audited(workspace: Path) -> Path:
    """A workspace whose audit log holds 12 records, checkpointed every 5 and signed with audit.pem."""
    _write_key(workspace / "audit.pem", Ed25519PrivateKey.generate())
    (workspace / "toolnexus.toml").write_text('[governance]\naudit_key = "audit.pem"\ncheckpoint_every = 5\n')
    store = StateStore(workspace / ".toolnexus" / "state.db")
    log = AuditLog(store, checkpoint_every=5, key=load_private_key(workspace / "audit.pem"))
    for i in range(10):
        log.append("decision.allow", {"tool": "files.read", "principal": "alice", "arguments": {"i": i},
                                      "decision": {"verdict": "allow", "decider": "gate"}})
    log.append("decision.deny", {"tool": "http.fetch", "principal": "bob",
                                 "decision": {"verdict": "deny", "reason": "host not listed", "decider": "gate"}})
    log.append("governance.kill", {"action": "kill", "target": "shell.run", "principal": "ops", "reason": "incident"})
    store.close()
    return workspace


def test_verify_passes_an_untouched_log(audited: Path) -> None:
    done = toolnexus(audited, "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 12 records, head ")
    assert "last checkpoint at record 10" in done.stdout and "signature verified" in done.stdout


def test_verify_names_the_first_bad_record_and_exits_1(audited: Path) -> None:
    with sqlite3.connect(audited / ".toolnexus" / "state.db") as conn:
        conn.execute("UPDATE audit_records SET body = replace(body, 'alice', 'mallory') WHERE seq = 4")
        conn.execute("DELETE FROM audit_records WHERE seq = 7")
    done = toolnexus(audited, "verify")
    assert done.returncode == 1
    assert "tampered: record 4: its hash does not match its contents" in done.stderr
    assert "Traceback" not in done.stderr


def test_verify_with_another_public_key_fails(audited: Path) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    (audited / "other.pub.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    done = toolnexus(audited, "verify", "--key", str(audited / "other.pub.pem"))
    assert done.returncode == 1 and "record 5: its checkpoint is signed by key" in done.stderr


def test_verify_with_the_public_key_file_passes(audited: Path) -> None:
    public = load_private_key(audited / "audit.pem").public_key()
    (audited / "audit.pub.pem").write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    done = toolnexus(audited, "verify", "--key", str(audited / "audit.pub.pem"))
    assert done.returncode == 0, done.stderr


def test_a_missing_key_or_store_is_a_clear_error_with_exit_2(audited: Path, tmp_path: Path) -> None:
    done = toolnexus(audited, "verify", "--key", "nope.pem")
    assert done.returncode == 2 and "cannot read the audit public key nope.pem" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = toolnexus(empty, "verify")
    assert done.returncode == 2 and "no state store at" in done.stderr and "Traceback" not in done.stderr


def test_report_filters_and_prints_json(audited: Path) -> None:
    done = toolnexus(audited, "report", "--kind", "decision.deny", "--since", "1d", "--json")
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(done.stdout)
    assert record["seq"] == 11 and record["body"]["tool"] == "http.fetch" and len(record["hash"]) == 64
    done = toolnexus(audited, "report", "--tool", "shell.*", "--principal", "ops", "--json")
    assert [r["kind"] for r in json.loads(done.stdout)] == ["governance.kill"]
    done = toolnexus(audited, "report", "--tool", "files.*")
    assert done.returncode == 0 and "files.read" in done.stdout and "10 decision.allow" in done.stderr


def test_report_refuses_a_since_it_cannot_read(audited: Path) -> None:
    done = toolnexus(audited, "report", "--since", "last tuesday")
    assert done.returncode == 2 and "neither a duration nor a date" in done.stderr


def test_tail_prints_the_last_records(audited: Path) -> None:
    done = toolnexus(audited, "tail", "-n", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["seq"] for r in json.loads(done.stdout)] == [11, 12]
    done = toolnexus(audited, "tail", "-n", "3")
    assert done.returncode == 0 and "host not listed" in done.stdout and "shell.run" in done.stdout
