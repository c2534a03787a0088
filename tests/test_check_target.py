"""check-target: every mapped text found or named as missing, read-only outside a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from bot.config import Settings
from bot.pages.conformance import PROBE, check_target
from sandbox.server import RunningSandbox
from tests.fixtures.flows import make_flow_settings
from tests.fixtures.sandbox import MAPPINGS
from tests.fixtures.settings import settings_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]


def sandbox_mapping(tmp_path: Path, variant: str = "standard") -> Path:
    """A copy of a mapping file that says the target is a training sandbox."""
    name = "target.yaml" if variant == "standard" else f"target_{variant}.yaml"
    text = (MAPPINGS / name).read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_text(text + "\ntarget:\n  name: bac à sable\n  sandbox: true\n", encoding="utf-8")
    return path


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


def test_on_another_target_nothing_is_created(
    browser: Browser, sandbox: RunningSandbox, flow_settings: Settings
) -> None:
    report = check_target(flow_settings, browser=browser)

    assert report.ok
    assert report.read_only
    assert not report.created_probe
    by_path = {line.path: line.status for line in report.lines}
    assert by_path["usager_form.labels.birth_name"] == "found"
    assert by_path["step1.labels.words_recalled"] == "not_checked"
    assert sandbox.counts() == {
        "usagers": 0,
        "step1": 0,
        "duplicate_usagers": 0,
        "duplicate_step1": 0,
    }


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
