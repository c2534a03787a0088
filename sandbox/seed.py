"""A year of professional activity in the sandbox: usagers, STEP 1s and STEP 2s.

``SandboxConfig(seed_year=2026)`` (``SANDBOX_SEED_YEAR=2026``, ``icope-bot sandbox --seed-year
2026``) fills an empty sandbox with what professionals of the experiment's two territories would
have entered over that year, so the Exports page and an evaluation report look like a year:

- usagers living in the communes of CPTS O'Tours (Indre-et-Loire) and CPTS La Salamandre
  (Loir-et-Cher), fictitious names, born 1926–1966;
- about ``seed_per_month`` STEP 1s a month, mostly in hétéroévaluation by the territory's
  professionals, some in auto-évaluation entered by hand (no ICOPE et Moi record behind them);
- alerts computed by the sandbox's own rules, with per-domain rates close to published ones;
- a STEP 2 for most alerted STEP 1s, 1 to 120 days later, on some of the alerted domains;
- about a third of the people back for a second STEP 1 about six months later.

Dates never go past ``today``. The same ``seed`` gives the same year. Nothing here is real: the
RPPS numbers start with 1999 (none is assigned that way) and the names are common French names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.config import DOMAINS
from sandbox.db import Store
from sandbox.forms import usager_record
from sandbox.rules import Step1, compute_alerts

__all__ = ["SEED_COMMUNES", "SEED_PROFESSIONALS", "SeedSummary", "seed_year"]

#: (postcode, commune, territory key) where seeded usagers live.
SEED_COMMUNES: tuple[tuple[str, str, str], ...] = (
    ("37000", "Tours", "otours"),
    ("37100", "Tours", "otours"),
    ("37200", "Tours", "otours"),
    ("37540", "Saint-Cyr-sur-Loire", "otours"),
    ("37700", "Saint-Pierre-des-Corps", "otours"),
    ("37520", "La Riche", "otours"),
    ("41000", "Blois", "salamandre"),
    ("41350", "Vineuil", "salamandre"),
    ("41260", "La Chaussée-Saint-Victor", "salamandre"),
    ("41350", "Saint-Gervais-la-Forêt", "salamandre"),
)

#: (name, RPPS, territory key): fictitious professionals of each territory.
SEED_PROFESSIONALS: tuple[tuple[str, str, str], ...] = (
    ("Dr Hélène Roussel", "19990000011", "otours"),
    ("Marc Aubry", "19990000029", "otours"),
    ("Nadia Benali", "19990000037", "otours"),
    ("Dr Paul Girard", "19990000045", "salamandre"),
    ("Camille Pinto", "19990000052", "salamandre"),
)

_SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFÈVRE",
    "FAURE",
    "ANDRÉ",
    "MERCIER",
    "BLANC",
    "GUÉRIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
]
_FIRST_F = [
    "Jeanne",
    "Marie",
    "Monique",
    "Françoise",
    "Nicole",
    "Colette",
    "Odette",
    "Simone",
    "Yvette",
    "Josette",
]
_FIRST_M = [
    "Jean",
    "Michel",
    "André",
    "Pierre",
    "Bernard",
    "René",
    "Marcel",
    "Gérard",
    "Claude",
    "Roger",
]
_STREETS = ("rue Nationale", "avenue de Grammont", "rue du Commerce", "quai de la Loire")

#: Chance of an alert per domain in a drawn STEP 1 (published screening rates, ICOPE_STEP1.md).
_RATES = {
    "cognition": 0.45,
    "mobilite": 0.25,
    "nutrition": 0.12,
    "vision": 0.55,
    "audition": 0.38,
    "psychologie": 0.3,
}


@dataclass(frozen=True)
class SeedSummary:
    usagers: int
    step1: int
    step1_auto: int
    step2: int


def _answers(rng: random.Random) -> dict[str, Any]:
    """STEP 1 answers whose alerts follow :data:`_RATES` (the rules then decide)."""
    on = {d: rng.random() < rate for d, rate in _RATES.items()}
    orientation_ko = on["cognition"] and rng.random() < 0.4
    return {
        "memory_complaint": rng.random() < 0.2,
        "orientation_year_ok": True,
        "orientation_month_ok": not orientation_ko,
        "orientation_weekday_ok": True,
        "orientation_day_ok": True,
        "orientation_place_ok": True,
        "words_recalled": rng.choice((1, 2)) if on["cognition"] and not orientation_ko else 3,
        "chair_rise_seconds": (
            round(rng.uniform(15, 25), 1) if on["mobilite"] else round(rng.uniform(7, 13.5), 1)
        ),
        "weight_loss_kg": round(rng.uniform(3.5, 6), 1) if on["nutrition"] else 0.0,
        "appetite_loss": False,
        "vision_problem": on["vision"],
        "hearing_test": "aucun",
        "hearing_whisper_passed": None,
        "hearing_score": None,
        "hearing_audiometry_db": None,
        "hearing_problem_reported": on["audition"],
        "mood_down": on["psychologie"],
        "mood_little_interest": False,
    }


def _usager(rng: random.Random, serial: int, territory: str) -> dict[str, Any]:
    sex = rng.choice("FM")
    first = rng.choice(_FIRST_F if sex == "F" else _FIRST_M)
    born = date(rng.randint(1926, 1966), rng.randint(1, 12), rng.randint(1, 28))
    postcode, commune, _ = rng.choice([c for c in SEED_COMMUNES if c[2] == territory])
    values = {
        "birth_name": rng.choice(_SURNAMES),
        "first_names": first,
        "sex": sex,
        "birth_date": born.strftime("%d/%m/%Y"),
        "birth_insee": postcode[:2] + f"{serial % 900 + 100:03d}",
        "address": f"{rng.randint(1, 120)} {rng.choice(_STREETS)}, {postcode} {commune}",
        "identity_status": "provisoire",
        "consent": "on",
    }
    return usager_record(values, created_by="seed")


def seed_year(
    store: Store,
    year: int,
    *,
    per_month: int = 60,
    seed: int = 2026,
    today: date | None = None,
) -> SeedSummary:
    """Fill the store with a year of activity (see the module docstring); one transaction."""
    rng = random.Random(seed)
    last = min(date(year, 12, 31), today or date.today())
    usagers = step1 = auto = step2 = 0
    with store.bulk():
        for month in range(1, 13):
            start = date(year, month, 1)
            if start > last:
                break
            for _ in range(max(round(per_month * rng.uniform(0.8, 1.2)), 1)):
                day = start + timedelta(days=rng.randrange(28))
                if day > last:
                    continue
                territory = "otours" if rng.random() < 0.6 else "salamandre"
                usager_id = store.insert_usager(_usager(rng, usagers, territory))
                usagers += 1
                visits = [day]
                if rng.random() < 0.35:
                    visits.append(day + timedelta(days=rng.randint(165, 200)))
                for when in (v for v in visits if v <= last):
                    mode = "auto" if rng.random() < 0.2 else "hetero"
                    who = rng.choice([p for p in SEED_PROFESSIONALS if p[2] == territory])
                    answers = _answers(rng)
                    alerts = compute_alerts(Step1(**answers))
                    store.insert_evaluation(
                        usager_id=usager_id,
                        kind="step1",
                        eval_date=when.isoformat(),
                        mode=mode,
                        effecteur_rpps=who[1],
                        effecteur_name=who[0],
                        answers=answers,
                        alerts=alerts,
                        created_by="seed",
                    )
                    step1 += 1
                    auto += mode == "auto"
                    alerted = [d for d in DOMAINS if alerts[d]]
                    if not alerted or rng.random() > 0.7:
                        continue
                    follow = when + timedelta(days=int(rng.triangular(1, 120, 25)))
                    if follow > last:
                        continue
                    domains = [d for d in alerted if rng.random() < 0.8] or alerted[:1]
                    store.insert_evaluation(
                        usager_id=usager_id,
                        kind="step2",
                        eval_date=follow.isoformat(),
                        mode="hetero",
                        effecteur_rpps=who[1],
                        effecteur_name=who[0],
                        answers={"domains": domains},
                        alerts={},
                        created_by="seed",
                    )
                    step2 += 1
    return SeedSummary(usagers=usagers, step1=step1, step1_auto=auto, step2=step2)
