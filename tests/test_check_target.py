"""check-target: every mapped text found, or named as missing or unchecked; read-only outside a
training sandbox, where it still reads every screen through a test usager's dossier."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.config import Settings
from bot.pages.conformance import PROBE, check_target
from bot.pages.mapping import load_mapping
from sandbox.server import RunningSandbox
from tests.fixtures.flows import make_flow_settings, training_mapping
from tests.fixtures.settings import settings_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]


sandbox_mapping = training_mapping


def test_on_a_sandbox_every_screen_is_visited_and_every_text_found(
    browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = make_flow_settings(
        sandbox.base_url, tmp_path, mapping=sandbox_mapping(tmp_path), effecteur="Julien Moreau"
    )

    report = check_target(settings, browser=browser)

    assert report.ok, (report.missing, report.error)
    assert report.created_probe
    assert not report.read_only
    found = {line.path for line in report.lines if line.status == "found"}
    for path in (
        "login.labels.password",
        "search.texts.no_result",
        "usager_form.options.sex.I",
        "duplicate.buttons.confirm",
        "dossier.columns.mode",
        "chooser.links.step1",
        "step1.labels.hearing_audiometry_db",
        "step1.radiogroups.hearing_whisper_passed",
        "step1.options.hearing_test.audiometrie",
        "evaluation.terms.chair_rise_seconds",
        "evaluation.values.not_done",
        "evaluation.alerts.domains.psychologie",
        "evaluation.alerts.status.alert",
        "evaluation.alerts.status.no_alert",
        "exports.heading",
    ):
        assert path in found
    # The throw-away usager exists once (its second creation met the double warning).
    assert sandbox.counts()["usagers"] == 1
    assert sandbox.counts()["step1"] == 1


def test_read_only_it_checks_every_text_through_the_test_usager_and_saves_nothing(
    browser: Browser, check_usager: RunningSandbox, flow_settings: Settings
) -> None:
    before = check_usager.counts()

    report = check_target(flow_settings, browser=browser)

    assert report.ok, (report.missing, report.unchecked, report.error)
    assert report.read_only
    assert not report.created_probe
    waived = load_mapping(flow_settings.mapping).waived
    for line in report.lines:  # every text looked at, or waived by the mapping with a reason
        assert line.status == "found" or (line.status == "waived" and waived[line.path]), line
    by_path = {line.path: line.status for line in report.lines}
    for path in (
        "step1.labels.words_recalled",
        "step1.buttons.save",
        "step1.radiogroups.hearing_whisper_passed",
        "dossier.columns.mode",
        "evaluation.terms.chair_rise_seconds",
        "evaluation.values.not_done",
        "evaluation.alerts.status.alert",
        "evaluation.alerts.status.no_alert",
    ):
        assert by_path[path] == "found", path
    assert check_usager.counts() == before  # nothing created, nothing saved


def test_read_only_without_the_test_usager_it_fails_saying_why(
    browser: Browser, sandbox: RunningSandbox, flow_settings: Settings
) -> None:
    report = check_target(flow_settings, browser=browser)

    assert not report.ok
    assert report.error is not None
    assert "usager de test" in report.error
    assert "ICOPE_BOT_CHECK_BIRTH_NAME" in report.error
    assert "step1.buttons.save « Enregistrer »" in report.unchecked
    assert sandbox.counts() == {
        "usagers": 0,
        "step1": 0,
        "duplicate_usagers": 0,
        "duplicate_step1": 0,
    }


def _cli_check_target(sandbox: RunningSandbox, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``icope-bot check-target --json`` as the night runs it: the default mapping, read-only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")} | settings_env(
        tmp_path, target=sandbox, logs_dir=tmp_path / "logs"
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-target", "--json"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("sandbox_text", "renamed", "expected"),
    [
        (
            "step1.words_recalled",
            "Mots rappelés (0 à 3)",
            "step1.labels.words_recalled « Nombre de mots rappelés (sur 3) »",
        ),
        ("step1.submit", "Valider l'évaluation", "step1.buttons.save « Enregistrer »"),
        ("evaluation.not_done", "Non renseigné", "evaluation.values.not_done « Non réalisé »"),
    ],
    ids=["step1-label", "save-button", "evaluation-text"],
)
def test_cli_read_only_fails_naming_a_changed_text_of_the_step1_form_or_evaluation(
    check_usager: RunningSandbox, tmp_path: Path, sandbox_text: str, renamed: str, expected: str
) -> None:
    check_usager.set_faults(renamed_texts={sandbox_text: renamed})
    before = check_usager.counts()

    done = _cli_check_target(check_usager, tmp_path)

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert report["read_only"] is True
    assert expected in report["missing"]
    assert check_usager.counts() == before


def test_cli_read_only_passes_on_the_unchanged_tool(
    check_usager: RunningSandbox, tmp_path: Path
) -> None:
    done = _cli_check_target(check_usager, tmp_path)

    assert done.returncode == 0, (done.stdout, done.stderr)
    report = json.loads(done.stdout)
    assert report["counts"]["not_checked"] == 0
    assert report["counts"]["missing"] == 0


def _names_under(folder: Path, depth: int) -> set[str]:
    """Names of the entries ``depth`` levels below ``folder`` (none if it is gone)."""
    try:
        return {p.name for p in folder.glob("/".join("*" * depth))}
    except OSError:  # an entry removed while listed
        return set()


def test_cli_check_target_keeps_its_browser_files_in_the_private_folder_and_removes_them(
    check_usager: RunningSandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The command's system temp folder, watched; short, as Chromium's socket path must be.
    system_tmp = Path(tempfile.mkdtemp(prefix="ctl-"))
    request.addfinalizer(lambda: shutil.rmtree(system_tmp, ignore_errors=True))
    private = tmp_path / "queue" / "tmp"  # <queue folder>/tmp/run-<pid>/…, as the workers'
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")} | settings_env(
        tmp_path, target=check_usager, logs_dir=tmp_path / "logs"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "check-target", "--json"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT), "TMPDIR": str(system_tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    in_private: set[str] = set()
    in_system: set[str] = set()
    while proc.poll() is None:  # the browser's folders live as long as the browser
        in_private |= _names_under(private, 2)
        in_system |= _names_under(system_tmp, 1)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, (out, err)
    assert any(n.startswith("playwright-artifacts-") for n in in_private), in_private
    assert any(n.startswith("playwright_chromiumdev_profile-") for n in in_private), in_private
    assert not [n for n in in_system if n.startswith("playwright")], in_system
    assert list(private.iterdir()) == []  # removed at the end
    assert private.stat().st_mode & 0o777 == 0o700


def test_the_v2_screens_match_the_v2_mapping(
    browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(ui_variant="v2")
    settings = make_flow_settings(
        sandbox.base_url, tmp_path, mapping=sandbox_mapping(tmp_path, "v2")
    )

    report = check_target(settings, browser=browser)

    assert report.ok, (report.missing, report.error)


def test_cli_names_the_texts_the_v2_screens_no_longer_show(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(ui_variant="v2")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICOPE_BOT_")} | settings_env(
        tmp_path, target=sandbox, mapping=sandbox_mapping(tmp_path), logs_dir=tmp_path / "logs"
    )

    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-target", "--json"],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert "search.labels.birth_name « Nom de naissance »" in report["missing"]
    assert "usager_form.labels.birth_name « Nom de naissance »" in report["missing"]
    assert "ui_changed" not in report["error"]  # said in words, for a person
    assert "Nom de naissance" in report["error"]
    assert PROBE.birth_name not in done.stderr


VARIANT_MAPPINGS = sorted((ROOT / "mappings" / "variants").glob("*.yaml"))


@pytest.mark.parametrize("path", VARIANT_MAPPINGS, ids=lambda p: p.stem)
def test_each_changed_shape_passes_the_preflight_with_its_variant_mapping(
    path: Path, browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(ui_variant=path.stem)
    mapping = tmp_path / path.name
    text = path.read_text(encoding="utf-8")
    mapping.write_text(text + "\ntarget:\n  name: bac à sable\n  sandbox: true\n", encoding="utf-8")
    settings = make_flow_settings(sandbox.base_url, tmp_path, mapping=mapping)

    report = check_target(settings, browser=browser)

    assert report.ok, (report.missing, report.unchecked, report.error)
    found = {line.path for line in report.lines if line.status == "found"}
    for key in load_mapping(mapping).step1.controls:
        assert f"step1.radiogroups.{key}" in found  # by the role its kind gives it


def test_the_preflight_names_the_question_shown_as_a_drop_down(
    browser: Browser, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    sandbox.set_faults(ui_variant="yesno_select")
    settings = make_flow_settings(sandbox.base_url, tmp_path, mapping=sandbox_mapping(tmp_path))

    report = check_target(settings, browser=browser)

    assert not report.ok
    assert report.error is not None
    assert "step1.controls.memory_complaint avec kind: select" in report.error
    assert sandbox.counts()["step1"] == 0
