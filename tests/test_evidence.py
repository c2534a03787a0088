"""Evidence files are private and named by reference, never by person."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from bot.evidence import EvidenceFolder


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_evidence_folders_are_0700_and_files_0600(tmp_path: Path) -> None:
    folder = EvidenceFolder(tmp_path / "screenshots", "ICM-123", day=date(2026, 11, 23))
    f = folder.file("01-form")
    f.write_bytes(b"png")
    assert f == tmp_path / "screenshots" / "2026-11-23" / "ICM-123" / "01-form.png"
    assert mode(f) == 0o600
    for d in (f.parent, f.parent.parent, tmp_path / "screenshots"):
        assert mode(d) == 0o700


@pytest.mark.parametrize("reference", ["../../etc/passwd", "..", ".", "/abs"])
def test_references_cannot_escape_the_day_folder(tmp_path: Path, reference: str) -> None:
    folder = EvidenceFolder(tmp_path, reference, day=date(2026, 1, 2))
    assert folder.file("x").resolve().parent.parent == (tmp_path / "2026-01-02").resolve()


def test_a_shared_sticky_folder_is_never_locked_down(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    EvidenceFolder(shared, "ICM-1").file("x")
    assert mode(shared) == 0o1777
    assert mode(shared / date.today().isoformat()) == 0o700
