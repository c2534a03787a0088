"""A sample export: generated, kept as rows of text cells, written as XLSX or CSV."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from bot.icope import Rules, alerts_for, load_rules
from bot.ingest import FIELD_KINDS, ExportMapping, Progress, load_mapping
from bot.models import DOMAINS, Sex, Step1Answers
from bot.sample._generator import (
    ERROR_KINDS,
    Generator,
    Person,
    age_on,
    break_cell,
    export_cells,
    yes_no,
)
from bot.sample._names import FEMALE_NAMES, MALE_NAMES

PROGRESS_EVERY = 1_000  # rows between two progress calls
T = TypeVar("T")


def _counted(items: Iterable[T], step: str, total: int, progress: Progress | None) -> Iterator[T]:
    """The items, telling ``progress`` how far the loop is (every PROGRESS_EVERY and at the end)."""
    if progress is None:
        yield from items
        return
    done = 0
    progress(step, 0, total)
    for item in items:
        yield item
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(step, done, total)
    progress(step, done, total)


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
    no_consent: list[int] = field(default_factory=list)  # rows without consent to share

    def write(self, path: Path | str, progress: Progress | None = None, **options: Any) -> Path:
        return write_export(self, path, progress=progress, **options)


class _Built(NamedTuple):
    """One row of the export before it is sorted by date and written as text cells."""

    person: Person
    assessed_on: date
    tag: str  # "base", "returning" or "homonym"
    link: int | None  # the base row a special row relates to
    answers: Step1Answers
    alerts: dict[str, bool]
    consent: bool
    app_id: str | None


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
    progress: Progress | None = None,
) -> SampleExport:
    """A sample export of ``rows`` rows (returning, homonym and error rows included in the count).

    ``returning`` rows are later assessments (4–6 months on) of people already in the file;
    ``homonyms`` rows are new people sharing names with someone in the file (alternately: same
    names but another birth date and place; same strict traits but another first name);
    ``errors`` rows each carry one bad cell, cycling through :data:`ERROR_KINDS`;
    ``discordant`` rows have one app alert that disagrees with the reference rules.
    Same arguments (``as_of`` included; default today), same export.

    What is announced happens when the export is entered: returning, homonym and discordant
    rows (and the rows a homonym or returning row relates to) always have consent to share, and
    a discordant row is never one a homonym could stop at an identity question. The few rows
    without consent (about 3 %) are listed in ``no_consent``. The first homonym is a near
    match (every strict trait but the first name: an identity question), the next a namesake
    born another day elsewhere (another person), and so on alternately.
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
    g = Generator(rng, as_of, rules)

    # (person, assessed_on, tag, link) — tag/link say which base row a special row relates to
    plan: list[tuple[Person, date, str, int | None]] = []
    base = rows - returning - homonyms
    for _ in _counted(range(base), "Tirage des personnes", base, progress):
        on = g.assessment_date()
        plan.append((g.person(on), on, "base", None))
    for j in rng.sample(range(base), returning):
        p, on, _, _ = plan[j]
        plan.append((p, on + timedelta(days=rng.randint(120, 180)), "returning", j))
    for i, j in enumerate(rng.sample(range(base), homonyms)):
        p, on, _, _ = plan[j]
        later = g.assessment_date()
        if i % 2 == 1:  # same names, another birth date and place
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
            pool = FEMALE_NAMES if p.sex is Sex.F else MALE_NAMES
            other = rng.choice([n for n in pool if n != p.first_names[0]])
            twin = Person(
                birth_name=p.birth_name,
                first_names=(other,),
                sex=p.sex,
                birth_date=p.birth_date,
                birth_insee=p.birth_insee,
            )
        plan.append((g.dress(twin), later, "homonym", j))

    related = {link for _, _, tag, link in plan if link is not None}
    near_twins = {link for _, _, tag, link in plan if tag == "homonym" and link is not None}
    built: list[_Built] = []
    for k, (p, on, tag, link) in enumerate(
        _counted(plan, "Réponses et alertes", len(plan), progress)
    ):
        answers = g.answers(g.alerted())
        alerts = alerts_for(answers, rules, age_on(p.birth_date, on)).as_dict()
        # Drawn for every row (same seed, same file); special rows keep their consent.
        consent = rng.random() < 0.97 or tag != "base" or k in related
        app_id = g.app_id() if with_ids else None
        built.append(_Built(p, on, tag, link, answers, alerts, consent, app_id))

    # an export lists assessments by date; remember where each base row went
    order = sorted(
        range(len(built)), key=lambda k: (built[k].assessed_on, built[k].app_id or "", k)
    )
    position = {k: pos for pos, k in enumerate(order)}
    export_rows: list[dict[str, str]] = []
    out = SampleExport(headers=[], rows=[], keys={})
    ordinary: list[int] = []
    for pos, k in _counted(enumerate(order), "Mise en forme des lignes", len(order), progress):
        p, on, tag, link, answers, alerts, consent, app_id = built[k]
        export_rows.append(export_cells(p, on, app_id, answers, alerts, consent))
        row = pos + 2  # spreadsheet row: the headers are row 1
        if tag == "returning" and link is not None:
            out.returning.append((position[link] + 2, row))
        elif tag == "homonym" and link is not None:
            out.homonyms.append((position[link] + 2, row))
        elif k not in near_twins:  # a homonym's original may stop at an identity question
            ordinary.append(pos)
    special = set(rng.sample(ordinary, errors + discordant))
    chosen = sorted(special)
    rng.shuffle(chosen)
    for n, pos in enumerate(chosen[:errors]):
        kind = ERROR_KINDS[n % len(ERROR_KINDS)]
        break_cell(kind, export_rows[pos], as_of)
        out.errors[pos + 2] = kind
    for pos in chosen[errors:]:
        d = rng.choice(DOMAINS)
        cells = export_rows[pos]
        cells[f"app_alerts.{d}"] = yes_no(cells[f"app_alerts.{d}"] != "Oui")
        cells["consent_sharing"] = yes_no(True)  # else the discordance would never be compared
        listed = [x for x in DOMAINS if cells[f"app_alerts.{x}"] == "Oui"]
        cells["app_alerts"] = ", ".join(x.capitalize() for x in listed)
        out.discordant[pos + 2] = d

    out.no_consent = [
        pos + 2
        for pos, cells in enumerate(export_rows)
        if cells["consent_sharing"] == yes_no(False) and pos + 2 not in out.errors
    ]
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
    progress: Progress | None = None,
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

    step = f"Écriture de {Path(path).name}"
    rows = _counted(lines(), step, len(export.rows), progress)
    return _write(Path(path), export.headers, keys, rows, sep, encoding, typed_xlsx)


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
    g = Generator(random.Random(seed), as_of or date.today(), rules)
    probe = export_cells(g.person(date(2000, 1, 1)), date(2000, 1, 1), "", g.answers(set()),
                   dict.fromkeys(DOMAINS, False), True)  # fmt: skip
    keys = [k for k in mapping.columns if k in probe]
    headers = [mapping.columns[k].header for k in keys]

    def lines() -> Iterator[list[str]]:
        for _ in range(rows):
            on = g.assessment_date()
            p = g.person(on)
            answers = g.answers(g.alerted())
            alerts = alerts_for(answers, rules, age_on(p.birth_date, on)).as_dict()
            cells = export_cells(p, on, g.app_id(), answers, alerts, g.rng.random() < 0.97)
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
