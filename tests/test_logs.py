"""The log mask: personal data never reaches a log line."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from bot.logs import configure_logging, logger, mask, register_pii


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("écrire à m.dupont@example.org", "écrire à <email>"),
        ("INS 269029934173285", "INS <ins>"),
        ("INS 1 50 12 2A 123 456 17", "INS <ins>"),
        ("tél 06 12 34 56 78 ou +33612345678", "tél <tel> ou <tel>"),
        ("né le 03/04/1948", "né le <date>"),
        ("né le 1948-04-03", "né le <date>"),
        ("référence ICM-2026-001, dossier 17", "référence ICM-2026-001, dossier 17"),
    ],
)
def test_identifiers_are_masked_whoever_they_belong_to(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_registered_names_are_masked_whatever_their_case_and_accents() -> None:
    register_pii("Lefèvre-Quéré", "Anne-Sophie")
    assert mask("usager LEFEVRE QUERE Anne-Sophie") == "usager <nom> <nom> <nom>-<nom>"
    # whole words only: a longer word that starts like a name stays
    assert mask("Lefèvreux") == "Lefèvreux"


def test_the_json_log_file_is_private_and_masked(tmp_path: Path) -> None:
    register_pii("Bernadette")
    configure_logging("INFO", tmp_path / "logs", console=False)
    try:
        logger.info("recherche de Bernadette née le 12/03/1941")
        logger.complete()
    finally:
        logger.remove()
    log = tmp_path / "logs" / "icope-bot.jsonl"
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "logs").stat().st_mode & 0o777) == "0o700"
    record = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert record["record"]["message"] == "recherche de <nom> née le <date>"
    assert "Bernadette" not in log.read_text(encoding="utf-8")


def test_a_logged_traceback_shows_no_value_of_a_persons_data(tmp_path: Path) -> None:
    # A traceback is formatted after the masking filter: with loguru's defaults (diagnose) it
    # printed each frame's variables — here the identity — into the log file as they were.
    person = "Delacroix"
    register_pii(person)
    configure_logging("INFO", tmp_path / "logs", console=True)
    try:
        try:
            identity = {"birth_name": person, "birth_date": "12/03/1941"}
            raise KeyError(identity["birth_name"])
        except KeyError:
            logger.opt(exception=True).error("Erreur inattendue")
        logger.complete()
    finally:
        logger.remove()
    text = (tmp_path / "logs" / "icope-bot.jsonl").read_text(encoding="utf-8")
    assert "Traceback" in text
    assert "KeyError" in text
    assert "Delacroix" not in text
    assert "12/03/1941" not in text


def test_rotated_and_compressed_logs_stay_private_under_a_loose_umask(tmp_path: Path) -> None:
    # A person's CLI run has the usual umask 022 (the night service's UMask=0077 is not theirs).
    previous = os.umask(0o022)
    try:
        configure_logging("INFO", tmp_path / "logs", console=False, rotation="2 KB")
        for n in range(60):  # about 12 KB: several rotations
            logger.info(f"élément AE-{n:04d} : saisie terminée, rien à signaler ici")
        logger.complete()
    finally:
        logger.remove()
        os.umask(previous)
    files = sorted((tmp_path / "logs").iterdir())
    packed = [f for f in files if f.name.endswith(".gz")]
    assert len(packed) >= 3, files
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o600"}
    # Each archive is a real gzip of masked JSON lines, not an empty or renamed file.
    lines = gzip.decompress(packed[0].read_bytes()).decode("utf-8").splitlines()
    assert lines
    assert "saisie terminée" in json.loads(lines[0])["record"]["message"]
