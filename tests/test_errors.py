"""The error tree and its registry of codes: every code the bot raises is explained in French."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import errors
from bot.config import PROJECT_ROOT
from bot.errors import (
    CODES,
    BotError,
    BusinessException,
    ConfigurationError,
    InputFileError,
    SystemException,
)
from bot.models import ItemState
from bot.runner import RunOptions, run_batch
from bot.runner.report import render_run_report
from bot.workqueue import WorkQueue
from sandbox.server import RunningSandbox
from tests.fixtures.runner import enqueue_batch, run_settings

S = ItemState

#: Calls that take an error code positionally: (function name, index of the code argument).
_POSITIONAL_CODE = {"needs_review": 2, "_retry_or_fail": 1}


def _codes_raised_in_bot() -> dict[str, str]:
    """Every literal error code in bot/ → where it is first seen (file:line)."""
    found: dict[str, str] = {}

    def keep(node: ast.AST, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.setdefault(node.value, f"{where}:{node.lineno}")

    for path in sorted((PROJECT_ROOT / "bot").rglob("*.py")):
        where = str(path.relative_to(PROJECT_ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in ("code", "error_code"):
                        keep(kw.value, where)
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                index = _POSITIONAL_CODE.get(name)
                if index is not None and len(node.args) > index:
                    keep(node.args[index], where)
                if name == "getattr" and ast.unparse(node.args[1]) == "'code'":
                    keep(node.args[2], where)  # getattr(error, "code", "unexpected")
            elif isinstance(node, ast.Assign) and "default_code" in map(ast.unparse, node.targets):
                keep(node.value, where)
    return found


def test_every_code_the_bot_raises_is_explained_in_the_registry() -> None:
    raised = _codes_raised_in_bot()

    # The scan must have found the codes it is meant to find, or it proves nothing.
    assert len(raised) >= 30
    assert {"alerts_discordant", "effecteur_unknown", "unexpected", "review_file"} <= set(raised)
    missing = {code: where for code, where in raised.items() if code not in CODES}
    assert missing == {}, f"codes absents de bot.errors.CODES : {missing}"


def test_every_code_in_the_registry_is_used_by_the_bot() -> None:
    """A code explained but never raised promises what the bot does not do (login_refused did)."""
    used = set(_codes_raised_in_bot())  # the error classes' default codes included
    for path in sorted((PROJECT_ROOT / "bot").rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)

    assert sorted(set(CODES) - used) == []


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_says_in_french_what_happened_and_what_to_do(code: str) -> None:
    entry = CODES[code]

    assert entry.explanation[0].isupper()
    assert entry.explanation.endswith(".")
    assert entry.action[0].isupper()
    assert entry.action.endswith(".")


def test_every_error_class_lives_in_the_tree_and_its_old_module_still_gives_it() -> None:
    from bot.flows.identity import IdentityQuestion
    from bot.ingest import FileRefused
    from bot.pages.screen import SessionExpired
    from bot.review import ReviewFileError
    from bot.scheduler import AlreadyRunning
    from bot.workqueue import IllegalTransition

    for cls in (
        IdentityQuestion,
        FileRefused,
        SessionExpired,
        ReviewFileError,
        AlreadyRunning,
        IllegalTransition,
    ):
        assert cls.__module__ == "bot.errors"
        assert getattr(errors, cls.__name__) is cls
        assert issubclass(cls, BotError)
        assert cls.default_code in CODES or cls is IdentityQuestion
    # A bad reviewer's file is about the file, not about an item a person must decide.
    assert issubclass(ReviewFileError, InputFileError)
    assert not issubclass(ReviewFileError, BusinessException)
    for name in ("CredentialsError", "EffecteurUnknown", "OtpSetupError", "MappingError"):
        cls = getattr(errors, name)
        assert issubclass(cls, ConfigurationError)
        assert not issubclass(cls, SystemException)
        assert cls.default_code in CODES


def test_an_unknown_effecteur_halts_the_run_at_once_and_gives_the_item_back(
    sandbox: RunningSandbox, work_queue: WorkQueue, tmp_path: Path
) -> None:
    settings = run_settings(sandbox, tmp_path, effecteur="Docteur Inconnu", circuit_breaker=5)
    first, *others = enqueue_batch(work_queue, 3)

    summary = run_batch(settings, work_queue, RunOptions())

    # One item tried, the run stopped there: no retry item after item until the breaker.
    assert [r.reference for r in summary.items] == [first]
    assert summary.stopped_reason == "configuration"
    assert summary.items[0].error_code == "effecteur_unknown"
    assert "« Docteur Inconnu » (ICOPE_BOT_EFFECTEUR)" in summary.message
    assert summary.exit_code != 0
    # The item in hand goes back to pending with no attempt counted; the others never moved.
    view = work_queue.get(first)
    assert view.state == S.PENDING
    assert view.attempts == 0
    for ref in others:
        assert work_queue.get(ref).state == S.PENDING
        assert len(work_queue.history(ref)) == 1  # enqueued, never leased
    assert sandbox.counts()["step1"] == 0
    # The report says what to do, from the registry.
    html = render_run_report(summary)
    assert "Que faire :" in html
    assert "Corrigez ICOPE_BOT_EFFECTEUR" in html


def test_an_unreadable_export_mapping_is_a_configuration_error(tmp_path: Path) -> None:
    from bot.errors import MappingError
    from bot.ingest import load_mapping

    broken = tmp_path / "icope_et_moi.yaml"
    broken.write_text("columns: [pas, une, table", encoding="utf-8")

    with pytest.raises(MappingError, match=r"icope_et_moi\.yaml est illisible ou invalide"):
        load_mapping(broken)
    with pytest.raises(MappingError):
        load_mapping(tmp_path / "absent.yaml")


def test_a_missing_target_mapping_stops_the_run_command_with_what_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from bot.logs import logger

    monkeypatch.setenv("ICOPE_BOT_MAPPING", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue" / "queue.db"))
    monkeypatch.setenv("ICOPE_BOT_LOGS_DIR", str(tmp_path / "logs"))
    try:
        code = main(["run"])
    finally:
        logger.remove()  # main() configured logging sinks into tmp_path

    err = capsys.readouterr().err
    assert code == 2
    assert "Réglage à corriger : Fichier de correspondance de la cible introuvable" in err
    assert f"Que faire : {CODES['mapping_invalid'].action}" in err
    assert "Traceback" not in err
