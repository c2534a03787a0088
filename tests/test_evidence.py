"""Evidence files are private and named by reference, never by person."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, ScreenshotMode, TraceMode
from bot.evidence import EvidenceFolder, EvidencePolicy
from bot.models import SelfAssessment
from bot.workqueue import WorkItem
from tests.fixtures.queue import make_assessment
from tests.fixtures.settings import make_settings


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


# --- the evidence policy: the one place that reads settings.screenshots --------------------------


def _write(path: Path) -> None:
    path.write_bytes(b"\x89PNG capture")


def _broken(path: Path) -> None:
    raise RuntimeError("page closed")


@pytest.mark.parametrize(
    ("screenshots", "step_kept", "failure_kept", "traced"),
    [
        (ScreenshotMode.ON, True, True, True),
        (ScreenshotMode.ONLY_ON_FAILURE, False, True, True),
        (ScreenshotMode.OFF, False, False, False),
    ],
)
def test_the_policy_decides_which_captures_an_item_keeps(
    leased: Callable[[SelfAssessment], WorkItem],
    tmp_path: Path,
    screenshots: ScreenshotMode,
    step_kept: bool,
    failure_kept: bool,
    traced: bool,
) -> None:
    policy = EvidencePolicy(screenshots, tmp_path / "screenshots")
    item = leased(make_assessment(reference="AE-EVID"))

    step = policy.capture(item, "01-saisie-step1", _write)
    failure = policy.capture(item, "99-a-verifier", _write, failure=True)

    assert (step is not None) is step_kept
    assert (failure is not None) is failure_kept
    assert policy.traces is traced
    kept = [p for p in (step, failure) if p is not None]
    assert item.evidence == [str(p) for p in kept]  # attached to the item, in order
    for p in kept:
        assert p.parent.name == "AE-EVID"
        assert mode(p) == 0o600
        assert p.read_bytes() == b"\x89PNG capture"


def test_a_failed_failure_capture_never_hides_the_failure_but_a_step_capture_does(
    leased: Callable[[SelfAssessment], WorkItem], tmp_path: Path
) -> None:
    policy = EvidencePolicy(ScreenshotMode.ON, tmp_path)
    item = leased(make_assessment(reference="AE-BROKEN"))

    assert policy.capture(item, "99-a-verifier", _broken, failure=True) is None
    with pytest.raises(RuntimeError):
        policy.capture(item, "02-alertes", _broken)
    assert item.evidence == []


def test_flows_and_runner_never_read_the_screenshot_setting_themselves() -> None:
    for module in ("bot/flows/double_entry.py", "bot/runner/batch.py", "bot/flows/identity.py"):
        source = (PROJECT_ROOT / module).read_text(encoding="utf-8")
        assert "ScreenshotMode" not in source, module
        assert ".screenshots" not in source, module
        assert "page.screenshot" not in source, module


@pytest.mark.parametrize(
    ("screenshots", "traces", "first", "retry"),
    [
        (ScreenshotMode.ON, TraceMode.ON_RETRY, False, True),  # the default
        (ScreenshotMode.ONLY_ON_FAILURE, TraceMode.ON_RETRY, False, True),
        (ScreenshotMode.ON, TraceMode.ON, True, True),
        (ScreenshotMode.ON, TraceMode.OFF, False, False),
        (ScreenshotMode.OFF, TraceMode.ON, False, False),  # no evidence at all: no trace
    ],
)
def test_the_policy_decides_which_attempts_are_traced(
    tmp_path: Path, screenshots: ScreenshotMode, traces: TraceMode, first: bool, retry: bool
) -> None:
    policy = EvidencePolicy(screenshots, tmp_path, traces)
    assert (policy.traced(1), policy.traced(2), policy.traced(5)) == (first, retry, retry)
    assert policy.traces is (first or retry)


def test_the_traces_setting_reaches_the_policy(tmp_path: Path) -> None:
    assert EvidencePolicy.from_settings(make_settings(tmp_path)).trace_mode is TraceMode.ON_RETRY
    settings = make_settings(tmp_path, traces="on")
    assert EvidencePolicy.from_settings(settings).traced(1)
