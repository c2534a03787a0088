"""Files the sandbox and the local mail system write are private: 0600 files, 0700 folders."""

from __future__ import annotations

import stat
from pathlib import Path

from mailpipe import MailPipeline
from sandbox.server import serve_in_thread
from tests.fixtures.sandbox import add_usager, sandbox_test_config


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sandbox_database_and_its_wal_are_private(tmp_path: Path) -> None:
    db = tmp_path / "donnees" / "e-parcours.db"
    with serve_in_thread(sandbox_test_config(db)) as sandbox:
        add_usager(sandbox)  # a write: the WAL holds it until a checkpoint
        files = sorted(db.parent.glob("e-parcours.db*"))
        assert {f.name for f in files} >= {"e-parcours.db", "e-parcours.db-wal"}
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(db.parent) == 0o700


def test_the_mail_system_files_it_writes_are_private(mail_pipeline: MailPipeline) -> None:
    root = mail_pipeline.root
    assert _mode(root) == 0o700
    written = [
        f
        for f in root.rglob("*")
        if f.is_file()
        and (f.suffix in (".log", ".conf") or "users" in f.name or "pymap-etc" in f.name)
    ]
    assert written  # the server's configuration, its users and its log
    assert {str(f): _mode(f) for f in written} == {str(f): 0o600 for f in written}
    mails = [f for f in root.rglob("*") if f.is_file() and f.parent.name in ("new", "cur")]
    assert all(_mode(f) == 0o600 for f in mails)
