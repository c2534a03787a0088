"""Sample exports look like real ones: rates, people, reproducibility, and they ingest cleanly."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.icope import alerts_for
from bot.ingest import ingest_file
from bot.models import DOMAINS, ItemState, is_valid_ins, normalize_trait
from bot.sample import ERROR_KINDS, SampleExport, generate
from bot.workqueue import WorkQueue

AS_OF = date(2025, 6, 30)

#: Published STEP 1 screening results (shared/ICOPE_STEP1.md), per domain and "at least one".
PUBLISHED = {
    "vision": (0.50, 0.70),
    "cognition": (0.45, 0.55),
    "audition": (0.30, 0.55),
    "psychologie": (0.25, 0.40),
    "mobilite": (0.20, 0.30),
    "nutrition": (0.07, 0.20),
}
ALERT_HEADERS = {
    "cognition": "Alerte cognition",
    "mobilite": "Alerte mobilité",
    "nutrition": "Alerte nutrition",
    "vision": "Alerte vision",
    "audition": "Alerte audition",
    "psychologie": "Alerte psychologie",
}


@pytest.fixture(scope="module")
def big() -> SampleExport:
    return generate(2000, seed=2024, as_of=AS_OF)


def _date(text: str) -> date:
    return datetime.strptime(text, "%d/%m/%Y").date()


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_alert_rates_are_close_to_published_screening_results(big: SampleExport) -> None:
    n = len(big.rows)
    for domain, (low, high) in PUBLISHED.items():
        rate = sum(r[ALERT_HEADERS[domain]] == "Oui" for r in big.rows) / n
        assert low <= rate <= high, (domain, rate)
    any_alert = sum(any(r[h] == "Oui" for h in ALERT_HEADERS.values()) for r in big.rows) / n
    assert 0.80 <= any_alert <= 0.88


def test_people_are_60_to_95_with_fictitious_ins_phones_and_mails(big: SampleExport) -> None:
    ages = [_age(_date(r["Date de naissance"]), _date(r["Date d'évaluation"])) for r in big.rows]
    assert min(ages) == 60
    assert max(ages) == 95
    ins = [r["INS"] for r in big.rows if r["INS"]]
    assert 0.2 < len(ins) / len(big.rows) < 0.4
    for r in big.rows:
        if r["INS"]:
            assert is_valid_ins(r["INS"])
            assert r["INS"][10:13] == "000"  # order number INSEE never assigns
            assert r["INS"][0] == {"M": "1", "F": "2"}[r["Sexe"]]
        if r["Téléphone"]:
            assert re.fullmatch(r"(06 39 98|01 99 00) \d\d \d\d", r["Téléphone"])
        if r["E-mail"]:
            assert r["E-mail"].endswith("@example.org")
    assert Counter(r["Sexe"] for r in big.rows)["F"] > len(big.rows) / 2
    assert any(r["Nom utilisé"] for r in big.rows)
    assert any(r["Code INSEE lieu de naissance"].startswith("99") for r in big.rows)
    assert any(" " in r["Prénoms de naissance"] for r in big.rows)


def test_same_seed_same_export_other_seed_other_export(tmp_path: Path) -> None:
    a = generate(200, seed=3, returning=10, homonyms=6, errors=8, as_of=AS_OF)
    b = generate(200, seed=3, returning=10, homonyms=6, errors=8, as_of=AS_OF)
    c = generate(200, seed=4, returning=10, homonyms=6, errors=8, as_of=AS_OF)
    assert a.rows == b.rows
    assert a.errors == b.errors
    assert a.write(tmp_path / "a.csv").read_bytes() == b.write(tmp_path / "b.csv").read_bytes()
    assert a.rows != c.rows


def test_returning_usagers_come_back_4_to_6_months_later_with_the_same_identity() -> None:
    export = generate(300, seed=8, returning=20, as_of=AS_OF)
    assert len(export.returning) == 20
    strict = ("Nom de naissance", "Prénoms de naissance", "Sexe", "Date de naissance")
    for first, later in export.returning:
        a, b = export.rows[first - 2], export.rows[later - 2]
        assert [a[h] for h in strict] == [b[h] for h in strict]
        assert a["Identifiant évaluation"] != b["Identifiant évaluation"]
        gap = (_date(b["Date d'évaluation"]) - _date(a["Date d'évaluation"])).days
        assert 120 <= gap <= 180
        assert _date(b["Date d'évaluation"]) <= AS_OF


def test_homonyms_share_names_but_not_every_strict_trait() -> None:
    export = generate(300, seed=8, homonyms=10, as_of=AS_OF)
    kinds = Counter()
    for original, twin in export.homonyms:
        a, b = export.rows[original - 2], export.rows[twin - 2]
        assert normalize_trait(a["Nom de naissance"]) == normalize_trait(b["Nom de naissance"])
        if a["Prénoms de naissance"] == b["Prénoms de naissance"]:
            kinds["same names"] += 1
            assert (a["Date de naissance"], a["Code INSEE lieu de naissance"]) != (
                b["Date de naissance"],
                b["Code INSEE lieu de naissance"],
            )
        else:
            kinds["other first name"] += 1
            same = ("Sexe", "Date de naissance", "Code INSEE lieu de naissance")
            assert [a[h] for h in same] == [b[h] for h in same]
    assert kinds == {"same names": 5, "other first name": 5}


def test_round_trip_everything_is_valid_but_the_deliberate_errors(
    work_queue: WorkQueue, tmp_path: Path
) -> None:
    export = generate(400, seed=12, returning=20, homonyms=10, errors=20, discordant=6, as_of=AS_OF)
    assert Counter(export.errors.values()) == Counter(
        {k: 2 if i < 4 else 1 for i, k in enumerate(ERROR_KINDS)}
    )
    summary = ingest_file(export.write(tmp_path / "export.xlsx"), work_queue)
    assert (summary.read, summary.new, summary.invalid) == (400, 380, 20)
    assert {v.row for v in work_queue.items([ItemState.INVALID])} == set(export.errors)

    disagree = {}
    for v in work_queue.items([ItemState.PENDING]):
        a = v.assessment
        assert a is not None
        reference = alerts_for(a.answers, age=a.age_on_assessment())
        differs = [d for d in DOMAINS if getattr(reference, d) != getattr(a.app_alerts, d)]
        if differs:
            disagree[v.row] = differs
    assert disagree == {row: [d] for row, d in export.discordant.items()}


def test_cli_writes_a_sample_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exemple.csv"
    args = ["sample-export", "--rows", "50", "--out", str(out), "--seed", "1", "--errors", "3"]
    assert main(args) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfIdentifiant \xc3\xa9valuation;")
    assert "50 lignes" in capsys.readouterr().out
    assert main(["sample-export", "--rows", "4", "--returning", "3", "--out", str(out)]) == 2


def test_what_the_demo_announces_happens_when_it_is_entered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The demo's own sample (bot/cli/demo.py): 12 rows, seed 7, one of each case, two bad rows.
    export = generate(12, seed=7, returning=1, homonyms=1, errors=2, discordant=1, as_of=AS_OF)
    consent = "Consentement au partage"
    rows = export.rows
    [(original, twin)] = export.homonyms
    a, b = rows[original - 2], rows[twin - 2]
    # A near match (every strict trait but the first name): the run asks a person.
    same = ("Nom de naissance", "Sexe", "Date de naissance", "Code INSEE lieu de naissance")
    assert [a[h] for h in same] == [b[h] for h in same]
    assert a["Prénoms de naissance"] != b["Prénoms de naissance"]
    [(first, later)] = export.returning
    [discordant] = export.discordant
    for row in (original, twin, first, later, discordant):
        assert rows[row - 2][consent] == "Oui", row  # else "consentement absent" instead
    assert discordant not in (original, twin)  # never stopped by the identity question
    unannounced = {
        r
        for r in range(2, len(rows) + 2)
        if rows[r - 2][consent] != "Oui" and r not in export.errors
    }
    assert unannounced == set(export.no_consent)

    # The demo's first step prints what is in the file; its second, each bad row's reasons.
    out = tmp_path / "demo.xlsx"
    monkeypatch.setenv("ICOPE_BOT_QUEUE_PATH", str(tmp_path / "queue.db"))
    assert (
        main(
            [
                "sample-export",
                "--rows",
                "12",
                "--seed",
                "7",
                "--out",
                str(out),
                "--returning",
                "1",
                "--homonyms",
                "1",
                "--errors",
                "2",
                "--discordant",
                "1",
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert "1 retour, 1 homonyme, 2 erreurs voulues, 1 alerte discordante" in said
    assert main(["ingest", str(out)]) == 0
    said = capsys.readouterr().out
    assert "en quarantaine (à corriger dans l'export)" in said
    reasons = [line.strip() for line in said.splitlines() if line.strip().startswith("Ligne ")]
    assert len(reasons) == 2
    # The row and column named, with what is wrong; the bad value itself masked if personal.
    assert all(re.match(r"Ligne \d+, colonne « .+ » : \S", line) for line in reasons), reasons
