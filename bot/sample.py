"""Realistic sample ICOPE et Moi exports: fictitious usagers, plausible answers, the app's alerts.

Everybody's tests and the demo use these. What makes them realistic:

- French headers and cells, in the format of ``mappings/icope_et_moi.yaml`` (dates jj/mm/aaaa,
  Oui/Non, decimal commas, "Non réalisé"); XLSX with real dates and numbers, CSV as French Excel
  writes it (``;``, UTF-8 with BOM) unless told otherwise;
- people aged 60–95 with French names (accents, hyphens, particles), a used name for many married
  women, birth places in France or abroad (INSEE 99xxx);
- per-domain alert rates close to published screening results (shared/ICOPE_STEP1.md), with the
  right share of people without any alert (≈ 16 %): a fraction of people is drawn "robust", the
  others domain by domain;
- the app's alerts computed with :func:`bot.icope.alerts_for`, so they agree with the reference
  rules unless ``discordant`` rows are asked for.

Nothing here is real. INS numbers follow the NIR layout with a valid key but order number ``000``,
which INSEE never assigns; phone numbers are in the ranges ARCEP reserves for fiction
(01 99 00 xx xx, 06 39 98 xx xx); e-mail addresses use ``example.org`` (RFC 2606).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.icope import Rules, alerts_for, load_rules
from bot.ingest import FIELD_KINDS, ExportMapping, load_mapping
from bot.models import DOMAINS, HearingTest, Sex, Step1Answers, ins_key

__all__ = [
    "ERROR_KINDS",
    "TARGET_RATES",
    "Person",
    "SampleExport",
    "generate",
    "stream_export",
    "write_export",
]

#: Per-domain alert rates aimed at (middle of the published ranges), and "at least one" ≈ 84 %.
TARGET_RATES: dict[str, float] = {
    "vision": 0.60,
    "cognition": 0.50,
    "audition": 0.42,
    "psychologie": 0.32,
    "mobilite": 0.25,
    "nutrition": 0.13,
}
TARGET_ANY = 0.84

_SURNAMES_TEXT = (
    "Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau, Laurent, "
    "Simon, Michel, Lefèvre, Leroy, Roux, David, Bertrand, Morel, Fournier, Girard, Bonnet, "
    "Dupont, Lambert, Fontaine, Rousseau, Vincent, Muller, Lefebvre, Faure, André, Mercier, "
    "Blanc, Guérin, Boyer, Garnier, Chevalier, François, Legrand, Gauthier, Garcia, Perrin, "
    "Robin, Clément, Morin, Nicolas, Henry, Roussel, Mathieu, Gautier, Masson, Marchand, "
    "Duval, Denis, Dumont, Marie, Lemaire, Noël, Meyer, Dufour, Meunier, Brun, Blanchard, "
    "Giraud, Joly, Rivière, Lucas, Brunet, Gaillard, Barbier, Arnaud, Martinez, Gérard, "
    "Roche, Renard, Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard, Roger, Fabre, Aubert, "
    "Lemoine, Renaud, Dumas, Lacroix, Olivier, Philippe, Bourgeois, Pierre, Benoît, Rey, "
    "Leclerc, Payet, Rolland, Le Guen, Le Goff, N'Diaye, D'Almeida, Da Silva, Ferreira, "
    "Gauthier-Roux, Saint-Martin, De La Fontaine, Bénard, Hoarau, Kowalski, Nguyen, Benali, "
    "Haddad, Œillet"
)
_FEMALE = (
    "Marie, Jeanne, Françoise, Monique, Catherine, Nicole, Jacqueline, Anne, Sylvie, Isabelle, "
    "Martine, Christine, Nathalie, Michèle, Danielle, Brigitte, Chantal, Josiane, Colette, "
    "Simone, Denise, Paulette, Yvette, Madeleine, Odette, Huguette, Geneviève, Annie, Claudine, "
    "Éliane, Évelyne, Hélène, Thérèse, Bernadette, Marie-Claude, Marie-Thérèse, Anne-Marie, "
    "Ginette, Liliane, Raymonde, Suzanne, Gisèle, Régine, Arlette, Lucienne, Yvonne, Renée, "
    "Mireille, Agnès, Béatrice, Dominique, Élisabeth, Maryse, Noëlle, Rose, Solange, Aïcha"
)
_MALE = (
    "Jean, Pierre, Michel, André, Philippe, Alain, Bernard, Jacques, Daniel, Claude, Gérard, "
    "Christian, René, Marcel, Louis, Roger, Robert, Henri, Patrick, Serge, Guy, Maurice, Paul, "
    "Georges, Joseph, Yves, Jean-Pierre, Jean-Claude, Jean-Paul, Jean-Marie, François, Raymond, "
    "Lucien, Roland, Gilbert, Marc, Bruno, Didier, Dominique, Gaston, Fernand, Albert, Émile, "
    "Noël, Hervé, Thierry, Joël, Guy-Marie, Mohamed, Ahmed, Antoine, Lucas, Étienne, Mathieu"
)
_SURNAMES = tuple(_SURNAMES_TEXT.split(", "))
_FEMALE_NAMES = tuple(_FEMALE.split(", "))
_MALE_NAMES = tuple(_MALE.split(", "))
# INSEE codes of birth communes (département + commune): Paris, Lyon, Marseille, Toulouse,
# Centre-Val de Loire, Corsica (2A/2B), overseas (97x); repeated codes weigh big cities.
_BIRTH_PLACES_TEXT = (
    "75056 75056 75056 69123 13055 31555 33063 44109 59350 67482 45234 37261 18033 36044 "
    "41018 28085 45208 37122 18197 41269 36088 28134 63113 87085 86194 21231 25056 29019 "
    "35238 76540 14118 80021 51454 54395 57463 06088 34172 30189 64445 66136 2A004 2B033 "
    "01053 02691 03185 04070 05061 07186 08105 09122 97411 97209"
)
_BIRTH_PLACES = tuple(_BIRTH_PLACES_TEXT.split())
_ABROAD = ("99350", "99352", "99351", "99127", "99134", "99139", "99109", "99131", "99243")
_CITIES = (
    ("45000", "Orléans"),
    ("37000", "Tours"),
    ("18000", "Bourges"),
    ("36000", "Châteauroux"),
    ("41000", "Blois"),
    ("28000", "Chartres"),
    ("45200", "Montargis"),
    ("37400", "Amboise"),
    ("18100", "Vierzon"),
    ("41100", "Vendôme"),
    ("28100", "Dreux"),
    ("36100", "Issoudun"),
)
_STREETS = (
    "rue des Lilas",
    "avenue de la République",
    "rue Jeanne-d'Arc",
    "place du Marché",
    "rue de la Gare",
    "chemin des Vignes",
    "boulevard Victor-Hugo",
    "rue du Moulin",
    "impasse des Tilleuls",
    "allée des Peupliers",
)

#: The bad-row kinds ``errors`` mixes in, cycled in this order (each one a cell made wrong).
ERROR_KINDS: tuple[str, ...] = (
    "impossible_date",  # Date de naissance 31/02/1950
    "future_assessment",  # Date d'évaluation next year
    "unknown_yes_no",  # Perte d'appétit « Peut-être »
    "words_recalled_5",  # Mots rappelés 5
    "negative_seconds",  # Lever de chaise -3
    "ins_bad_key",  # INS with a wrong control key
    "ins_wrong_length",  # INS with 14 characters
    "missing_birth_name",  # Nom de naissance empty
    "hearing_result_without_test",  # Test d'audition Aucun but Score hearWHO 80
    "hearwho_140",  # Score hearWHO 140
    "unknown_sex",  # Sexe « X »
    "unreadable_number",  # Lever de chaise « douze »
    "empty_mandatory",  # Orientation : année correcte empty
    "insee_wrong_length",  # Code INSEE lieu de naissance « 751 »
    "unknown_hearing_test",  # Test d'audition « Audiogramme tonal »
    "unreadable_date",  # Date d'évaluation « hier »
)

_HEARING_KINDS = (
    (HearingTest.NONE, 0.40),
    (HearingTest.WHISPER, 0.25),
    (HearingTest.HEARWHO, 0.25),
    (HearingTest.AUDIOMETRY, 0.10),
)
_HEARING_LABELS = {
    HearingTest.NONE: "Aucun",
    HearingTest.WHISPER: "Chuchotement",
    HearingTest.HEARWHO: "hearWHO",
    HearingTest.AUDIOMETRY: "Audiométrie",
}


@dataclass(frozen=True)
class Person:
    """A fictitious usager."""

    birth_name: str
    first_names: tuple[str, ...]
    sex: Sex
    birth_date: date
    birth_insee: str
    used_name: str | None = None
    used_first_name: str | None = None
    ins: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass
class SampleExport:
    """A generated export: rows of text cells under the mapping's headers, and what is in them."""

    headers: list[str]
    rows: list[dict[str, str]]
    keys: dict[str, str]  # header → field key, to write typed XLSX cells
    errors: dict[int, str] = field(default_factory=dict)  # spreadsheet row → ERROR_KINDS entry
    returning: list[tuple[int, int]] = field(default_factory=list)  # (first, later) rows
    homonyms: list[tuple[int, int]] = field(default_factory=list)  # (original, homonym) rows
    discordant: dict[int, str] = field(default_factory=dict)  # row → domain the app got wrong

    def write(self, path: Path | str, **options: Any) -> Path:
        return write_export(self, path, **options)


def _any_alert_share(p0: float, rates: dict[str, float]) -> float:
    """Share with ≥ 1 alert when p0 of people are robust and the rest draw each domain."""
    none_rest = 1.0
    for r in rates.values():
        none_rest *= 1 - min(r / (1 - p0), 1.0)
    return 1 - (p0 + (1 - p0) * none_rest)


def _robust_share(rates: dict[str, float], target_any: float) -> float:
    """The share of robust people (no alert at all) that gives ``target_any`` (bisection)."""
    lo, hi = 0.0, 1 - max(rates.values()) - 1e-9
    for _ in range(60):
        mid = (lo + hi) / 2
        if _any_alert_share(mid, rates) > target_any:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class _Generator:
    def __init__(self, rng: random.Random, as_of: date, rules: Rules) -> None:
        self.rng = rng
        self.as_of = as_of
        self.rules = rules
        self.p0 = _robust_share(TARGET_RATES, TARGET_ANY)
        self.used_ids: set[str] = set()

    # --- people ---------------------------------------------------------------------------
    def person(self, assessed_on: date) -> Person:
        rng = self.rng
        sex = Sex.F if rng.random() < 0.58 else Sex.M
        pool = _FEMALE_NAMES if sex is Sex.F else _MALE_NAMES
        k = rng.choices((1, 2, 3), weights=(0.45, 0.4, 0.15))[0]
        first_names = tuple(rng.sample(pool, k))
        birth = self.birth_date(assessed_on)
        return self.dress(
            Person(
                birth_name=rng.choice(_SURNAMES),
                first_names=first_names,
                sex=sex,
                birth_date=birth,
                birth_insee=self.birth_place(),
            )
        )

    def birth_date(self, assessed_on: date) -> date:
        """A birth date giving an age of 60 to 95 on the assessment date."""
        age = self.rng.randint(60, 95)
        try:
            anniversary = assessed_on.replace(year=assessed_on.year - age)
        except ValueError:  # 29 February
            anniversary = assessed_on.replace(year=assessed_on.year - age, day=28)
        return anniversary - timedelta(days=self.rng.randint(0, 364))

    def birth_place(self) -> str:
        return (
            self.rng.choice(_ABROAD) if self.rng.random() < 0.08 else self.rng.choice(_BIRTH_PLACES)
        )

    def dress(self, p: Person) -> Person:
        """Used traits, INS and contact, drawn for a person's strict traits."""
        rng = self.rng
        used_name = None
        if p.sex is Sex.F and rng.random() < 0.45:
            used_name = rng.choice([n for n in _SURNAMES if n != p.birth_name])
        used_first = None
        if len(p.first_names) > 1 and rng.random() < 0.1:
            used_first = p.first_names[1]
        ins = self.ins(p) if rng.random() < 0.3 else None
        phone = None
        if rng.random() < 0.85:
            prefix = "06 39 98" if rng.random() < 0.7 else "01 99 00"
            phone = f"{prefix} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
        email = None
        if rng.random() < 0.45:
            local = f"{_ascii(p.first_names[0])}.{_ascii(used_name or p.birth_name)}"
            email = f"{local}{rng.randint(1, 99)}@example.org"
        postcode, city = rng.choice(_CITIES)
        address = f"{rng.randint(1, 120)} {rng.choice(_STREETS)}, {postcode} {city}"
        return replace(
            p,
            used_name=used_name,
            used_first_name=used_first,
            ins=ins,
            phone=phone,
            email=email,
            address=address,
        )

    def ins(self, p: Person) -> str:
        """A NIR-shaped fictitious matricule with a valid key (order number 000: never real)."""
        sex = "1" if p.sex is Sex.M else "2"
        place = p.birth_insee
        first13 = f"{sex}{p.birth_date:%y}{p.birth_date:%m}{place}000"
        return f"{first13}{ins_key(first13):02d}"

    def app_id(self) -> str:
        while True:
            candidate = f"{self.rng.getrandbits(40):010x}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    # --- answers ----------------------------------------------------------------------------
    def alerted(self) -> set[str]:
        if self.rng.random() < self.p0:
            return set()
        return {d for d, r in TARGET_RATES.items() if self.rng.random() < min(r / (1 - self.p0), 1)}

    def answers(self, alerted: set[str]) -> Step1Answers:
        rng, rules = self.rng, self.rules
        a: dict[str, Any] = {}
        # cognition: fewer than 3 words, and/or an orientation answer wrong
        orient = ["year", "month", "weekday", "day", "place"]
        wrong: set[str] = set()
        words = 3
        if "cognition" in alerted:
            if rng.random() < 0.75:
                words = rng.choice((0, 1, 1, 2, 2, 2))
            if words == 3 or rng.random() < 0.35:
                wrong = set(rng.sample(orient, rng.choice((1, 1, 2))))
        for o in orient:
            a[f"orientation_{o}_ok"] = o not in wrong
        a["words_recalled"] = words
        a["memory_complaint"] = rng.random() < (0.35 if "cognition" in alerted else 0.1)
        # mobility: five chair rises, too slow or not completed
        limit = rules.chair_rise_max_seconds
        if "mobilite" in alerted:
            a["chair_rise_seconds"] = (
                None if rng.random() < 0.3 else round(rng.uniform(limit + 0.1, limit + 12), 1)
            )
        else:
            a["chair_rise_seconds"] = round(rng.uniform(7.0, limit - 0.1), 1)
        # nutrition: weight loss above the threshold and/or appetite loss
        kg = rules.weight_loss_threshold_kg
        if "nutrition" in alerted:
            heavy = rng.random() < 0.6
            a["weight_loss_kg"] = round(rng.uniform(kg + 0.5, kg + 6), 1) if heavy else 0.0
            a["appetite_loss"] = (not heavy) or rng.random() < 0.4
        else:
            a["weight_loss_kg"] = round(rng.uniform(0.5, kg), 1) if rng.random() < 0.25 else 0.0
            a["appetite_loss"] = False
        a["vision_problem"] = "vision" in alerted
        # hearing: the test kind decides which result is filled
        test = rng.choices([k for k, _ in _HEARING_KINDS], [w for _, w in _HEARING_KINDS])[0]
        bad = "audition" in alerted
        a["hearing_test"] = test
        a["hearing_problem_reported"] = bad if test is HearingTest.NONE else rng.random() < 0.3
        if test is HearingTest.WHISPER:
            a["hearing_whisper_passed"] = not bad
        elif test is HearingTest.HEARWHO:
            fail = rules.hearwho_fail_below
            a["hearing_score"] = rng.randint(15, fail - 1) if bad else rng.randint(fail, 100)
        elif test is HearingTest.AUDIOMETRY:
            db = rules.audiometry_pass_max_db
            a["hearing_audiometry_db"] = rng.randint(db + 1, db + 40) if bad else rng.randint(0, db)
        # mood: feeling down and/or little interest
        if "psychologie" in alerted:
            a["mood_down"], a["mood_little_interest"] = rng.choice(
                ((True, False), (False, True), (True, True))
            )
        else:
            a["mood_down"] = a["mood_little_interest"] = False
        return Step1Answers(**a)

    def assessment_date(self) -> date:
        return self.as_of - timedelta(days=self.rng.randint(180, 540))


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _ascii(name: str) -> str:
    from bot.models import normalize_trait

    return normalize_trait(name).lower().replace(" ", "")


def _yes(v: bool) -> str:
    return "Oui" if v else "Non"


def _num(v: float) -> str:
    return f"{v:g}".replace(".", ",")


def _cells(
    person: Person,
    assessed_on: date,
    app_id: str | None,
    answers: Step1Answers,
    alerts: dict[str, bool],
    consent: bool,
) -> dict[str, str]:
    """One row as field key → the text the app would write."""
    a = answers
    cells: dict[str, str] = {
        "source_id": app_id or "",
        "assessed_on": f"{assessed_on:%d/%m/%Y}",
        "identity.birth_name": person.birth_name,
        "identity.first_names": " ".join(person.first_names),
        "identity.used_name": person.used_name or "",
        "identity.used_first_name": person.used_first_name or "",
        "identity.sex": person.sex.value,
        "identity.birth_date": f"{person.birth_date:%d/%m/%Y}",
        "identity.birth_insee": person.birth_insee,
        "identity.ins": person.ins or "",
        "identity.phone": person.phone or "",
        "identity.email": person.email or "",
        "identity.address": person.address or "",
        "consent_sharing": _yes(consent),
        "answers.memory_complaint": _yes(a.memory_complaint),
        "answers.words_recalled": str(a.words_recalled),
        "answers.chair_rise_seconds": (
            "Non réalisé" if a.chair_rise_seconds is None else _num(a.chair_rise_seconds)
        ),
        "answers.weight_loss_kg": _num(a.weight_loss_kg),
        "answers.hearing_test": _HEARING_LABELS[a.hearing_test],
        "answers.hearing_whisper_passed": (
            "" if a.hearing_whisper_passed is None else _yes(a.hearing_whisper_passed)
        ),
        "answers.hearing_score": "" if a.hearing_score is None else str(a.hearing_score),
        "answers.hearing_audiometry_db": (
            "" if a.hearing_audiometry_db is None else str(a.hearing_audiometry_db)
        ),
    }
    for name in (
        "orientation_year_ok",
        "orientation_month_ok",
        "orientation_weekday_ok",
        "orientation_day_ok",
        "orientation_place_ok",
        "appetite_loss",
        "vision_problem",
        "hearing_problem_reported",
        "mood_down",
        "mood_little_interest",
    ):
        cells[f"answers.{name}"] = _yes(getattr(a, name))
    for d in DOMAINS:
        cells[f"app_alerts.{d}"] = _yes(alerts[d])
    cells["app_alerts"] = ", ".join(d.capitalize() for d in DOMAINS if alerts[d])
    return cells


def _break(kind: str, cells: dict[str, str], as_of: date) -> None:
    """Make one cell wrong the way ``kind`` says (see ERROR_KINDS)."""
    match kind:
        case "impossible_date":
            cells["identity.birth_date"] = "31/02/1950"
        case "future_assessment":
            cells["assessed_on"] = f"{max(as_of, date.today()) + timedelta(days=400):%d/%m/%Y}"
        case "unknown_yes_no":
            cells["answers.appetite_loss"] = "Peut-être"
        case "words_recalled_5":
            cells["answers.words_recalled"] = "5"
        case "negative_seconds":
            cells["answers.chair_rise_seconds"] = "-3"
        case "ins_bad_key":
            first13 = "2" + "5003" + "45234" + "000"
            cells["identity.ins"] = f"{first13}{(ins_key(first13) + 1) % 97:02d}"
        case "ins_wrong_length":
            cells["identity.ins"] = "25003452340004"
        case "missing_birth_name":
            cells["identity.birth_name"] = ""
        case "hearing_result_without_test":
            cells["answers.hearing_test"] = "Aucun"
            cells["answers.hearing_whisper_passed"] = ""
            cells["answers.hearing_audiometry_db"] = ""
            cells["answers.hearing_score"] = "80"
        case "hearwho_140":
            cells["answers.hearing_test"] = "hearWHO"
            cells["answers.hearing_whisper_passed"] = ""
            cells["answers.hearing_audiometry_db"] = ""
            cells["answers.hearing_score"] = "140"
        case "unknown_sex":
            cells["identity.sex"] = "X"
        case "unreadable_number":
            cells["answers.chair_rise_seconds"] = "douze"
        case "empty_mandatory":
            cells["answers.orientation_year_ok"] = ""
        case "insee_wrong_length":
            cells["identity.birth_insee"] = "751"
        case "unknown_hearing_test":
            cells["answers.hearing_test"] = "Audiogramme tonal"
        case "unreadable_date":
            cells["assessed_on"] = "hier"
        case _:
            raise ValueError(f"unknown error kind {kind!r}")


def generate(
    rows: int,
    *,
    seed: int = 0,
    returning: int = 0,
    homonyms: int = 0,
    errors: int = 0,
    discordant: int = 0,
    as_of: date | None = None,
    with_ids: bool = True,
    mapping: ExportMapping | None = None,
    rules: Rules | None = None,
) -> SampleExport:
    """A sample export of ``rows`` rows (returning, homonym and error rows included in the count).

    ``returning`` rows are later assessments (4–6 months on) of people already in the file;
    ``homonyms`` rows are new people sharing names with someone in the file (alternately: same
    names but another birth date and place; same strict traits but another first name);
    ``errors`` rows each carry one bad cell, cycling through :data:`ERROR_KINDS`;
    ``discordant`` rows have one app alert that disagrees with the reference rules.
    Same arguments (``as_of`` included; default today), same export.
    """
    if rows < 0 or min(returning, homonyms, errors, discordant) < 0:
        raise ValueError("counts must be positive")
    if returning + homonyms > rows // 2:
        raise ValueError("returning + homonyms may be at most half the rows")
    if errors + discordant > rows - returning - homonyms:
        raise ValueError("too many error and discordant rows for this many rows")
    mapping = mapping or load_mapping()
    rules = rules or load_rules()
    as_of = as_of or date.today()
    rng = random.Random(seed)
    g = _Generator(rng, as_of, rules)

    # (person, assessed_on, tag, link) — tag/link say which base row a special row relates to
    plan: list[tuple[Person, date, str, int | None]] = []
    base = rows - returning - homonyms
    for _ in range(base):
        on = g.assessment_date()
        plan.append((g.person(on), on, "base", None))
    for j in rng.sample(range(base), returning):
        p, on, _, _ = plan[j]
        plan.append((p, on + timedelta(days=rng.randint(120, 180)), "returning", j))
    for i, j in enumerate(rng.sample(range(base), homonyms)):
        p, on, _, _ = plan[j]
        later = g.assessment_date()
        if i % 2 == 0:  # same names, another birth date and place
            twin = Person(
                birth_name=p.birth_name,
                first_names=p.first_names,
                sex=p.sex,
                birth_date=g.birth_date(later),
                birth_insee=g.birth_place(),
            )
            if twin.birth_date == p.birth_date:
                twin = replace(twin, birth_date=twin.birth_date - timedelta(days=1))
        else:  # same strict traits but the first name
            pool = _FEMALE_NAMES if p.sex is Sex.F else _MALE_NAMES
            other = rng.choice([n for n in pool if n != p.first_names[0]])
            twin = Person(
                birth_name=p.birth_name,
                first_names=(other,),
                sex=p.sex,
                birth_date=p.birth_date,
                birth_insee=p.birth_insee,
            )
        plan.append((g.dress(twin), later, "homonym", j))

    built = []
    for p, on, tag, link in plan:
        answers = g.answers(g.alerted())
        alerts = alerts_for(answers, rules, _age(p.birth_date, on)).as_dict()
        consent = rng.random() < 0.97
        built.append([p, on, tag, link, answers, alerts, consent, g.app_id() if with_ids else None])

    # an export lists assessments by date; remember where each base row went
    order = sorted(range(len(built)), key=lambda k: (built[k][1], built[k][7] or "", k))
    position = {k: pos for pos, k in enumerate(order)}
    export_rows: list[dict[str, str]] = []
    out = SampleExport(headers=[], rows=[], keys={})
    ordinary: list[int] = []
    for pos, k in enumerate(order):
        p, on, tag, link, answers, alerts, consent, app_id = built[k]
        export_rows.append(_cells(p, on, app_id, answers, alerts, consent))
        row = pos + 2  # spreadsheet row: the headers are row 1
        if tag == "returning" and link is not None:
            out.returning.append((position[link] + 2, row))
        elif tag == "homonym" and link is not None:
            out.homonyms.append((position[link] + 2, row))
        else:
            ordinary.append(pos)
    special = set(rng.sample(ordinary, errors + discordant))
    chosen = sorted(special)
    rng.shuffle(chosen)
    for n, pos in enumerate(chosen[:errors]):
        kind = ERROR_KINDS[n % len(ERROR_KINDS)]
        _break(kind, export_rows[pos], as_of)
        out.errors[pos + 2] = kind
    for pos in chosen[errors:]:
        d = rng.choice(DOMAINS)
        cells = export_rows[pos]
        cells[f"app_alerts.{d}"] = _yes(cells[f"app_alerts.{d}"] != "Oui")
        listed = [x for x in DOMAINS if cells[f"app_alerts.{x}"] == "Oui"]
        cells["app_alerts"] = ", ".join(x.capitalize() for x in listed)
        out.discordant[pos + 2] = d

    keys = (
        [k for k in mapping.columns if k in export_rows[0]]
        if export_rows
        else list(mapping.columns)
    )
    out.headers = [mapping.columns[k].header for k in keys]
    out.keys = {mapping.columns[k].header: k for k in keys}
    out.rows = [{mapping.columns[k].header: cells[k] for k in keys} for cells in export_rows]
    return out


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _typed(kind: str, text: str) -> object:
    """An XLSX cell as an app would type it: real dates and numbers; codes stay text."""
    if not text:
        return None
    if kind == "date":
        try:
            return datetime.strptime(text, "%d/%m/%Y")
        except ValueError:
            return text
    if kind in ("int", "decimal", "seconds"):
        try:
            v = float(text.replace(",", "."))
        except ValueError:
            return text
        return int(v) if v.is_integer() and kind == "int" else v
    return text


def write_export(
    export: SampleExport,
    path: Path | str,
    *,
    sep: str = ";",
    encoding: str = "utf-8-sig",
    typed_xlsx: bool = True,
    transform: Callable[[str, str, str], str] | None = None,
) -> Path:
    """Write the export as ``.xlsx`` or ``.csv`` (by the suffix); file mode 0600.

    CSV defaults are French Excel's (``;``, UTF-8 with BOM, CRLF); ``transform(key, header,
    text)`` lets a test rewrite cells (ISO dates, serial numbers...) while writing.
    """
    keys = [export.keys[h] for h in export.headers]

    def lines() -> Iterator[list[str]]:
        for row in export.rows:
            values = [row[h] for h in export.headers]
            if transform is not None:
                values = [
                    transform(k, h, v) for k, h, v in zip(keys, export.headers, values, strict=True)
                ]
            yield values

    return _write(Path(path), export.headers, keys, lines(), sep, encoding, typed_xlsx)


def stream_export(
    path: Path | str,
    rows: int,
    *,
    seed: int = 0,
    as_of: date | None = None,
    mapping: ExportMapping | None = None,
    rules: Rules | None = None,
) -> Path:
    """A large export written while it is generated, in constant memory (benchmarks).

    Plain rows only (no returning usagers, homonyms, errors), in generation order.
    """
    mapping = mapping or load_mapping()
    rules = rules or load_rules()
    g = _Generator(random.Random(seed), as_of or date.today(), rules)
    probe = _cells(g.person(date(2000, 1, 1)), date(2000, 1, 1), "", g.answers(set()),
                   dict.fromkeys(DOMAINS, False), True)  # fmt: skip
    keys = [k for k in mapping.columns if k in probe]
    headers = [mapping.columns[k].header for k in keys]

    def lines() -> Iterator[list[str]]:
        for _ in range(rows):
            on = g.assessment_date()
            p = g.person(on)
            answers = g.answers(g.alerted())
            alerts = alerts_for(answers, rules, _age(p.birth_date, on)).as_dict()
            cells = _cells(p, on, g.app_id(), answers, alerts, g.rng.random() < 0.97)
            yield [cells[k] for k in keys]

    return _write(Path(path), headers, keys, lines(), ";", "utf-8-sig", True)


def _write(
    path: Path,
    headers: list[str],
    keys: Sequence[str],
    lines: Iterable[list[str]],
    sep: str,
    encoding: str,
    typed_xlsx: bool,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        _write_xlsx(path, headers, keys, lines, typed_xlsx)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        with path.open("w", encoding=encoding, newline="") as f:
            w = csv.writer(f, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
            w.writerow(headers)
            w.writerows(lines)
    else:
        raise ValueError(f"unsupported sample format {path.suffix!r} (use .xlsx or .csv)")
    path.chmod(0o600)
    return path


def _write_xlsx(
    path: Path, headers: list[str], keys: Sequence[str], lines: Iterable[list[str]], typed: bool
) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Auto-évaluations")
    ws.append(headers)
    kinds = [FIELD_KINDS.get(k, "text") for k in keys]
    for values in lines:
        if not typed:
            ws.append(values)
            continue
        out: list[object] = []
        for kind, text in zip(kinds, values, strict=True):
            v = _typed(kind, text)
            if isinstance(v, datetime):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "DD/MM/YYYY"
                v = c
            out.append(v)
        ws.append(out)
    wb.save(path)
