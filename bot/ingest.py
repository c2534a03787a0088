"""Reading ICOPE et Moi exports into the work queue: detect, map, validate, quarantine.

::

    export (.xlsx / .csv)  ──► detect (encoding, separator, header row)
        ──► map columns (mappings/icope_et_moi.yaml: headers, aliases, value synonyms)
        ──► read cells column by column (dates, oui/non, numbers; each distinct value once)
        ──► SelfAssessment per row ──► queue.enqueue        (new / duplicate / conflict)
                                   └─► queue.quarantine     (invalid, with French reasons)

Nothing is lost: a row that fails is quarantined with its raw cells and one sentence per problem
("Ligne 12, colonne « Date de naissance » : la date « 31/02/1950 » n'existe pas"). A file is
refused whole only when it cannot be read or a required column is missing.

Identity never reaches a log line: names are registered with :func:`bot.logs.register_pii` as they
are read, and only counts, file names and references are logged.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.logs import logger, register_pii
from bot.models import (
    DOMAINS,
    HearingTest,
    Identity,
    ItemState,
    SelfAssessment,
    Sex,
    Step1Answers,
)

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.workqueue import WorkQueue

__all__ = [
    "MAPPING_FILE",
    "ColumnSpec",
    "ExportMapping",
    "Summary",
    "ingest_file",
    "ingest_inbox",
    "load_mapping",
    "normalize_header",
]

MAPPING_FILE = Path(__file__).resolve().parent.parent / "mappings" / "icope_et_moi.yaml"
EXTENSIONS = (".xlsx", ".xlsm", ".csv", ".tsv", ".txt")
CHUNK_ROWS = 20_000  # rows parsed, validated and enqueued together (one transaction)

# --------------------------------------------------------------------------------------------
# The mapping file, validated
# --------------------------------------------------------------------------------------------

Kind = Literal[
    "text", "date", "bool", "int", "decimal", "seconds", "names", "sex", "hearing", "ins", "insee",
    "domains",
]  # fmt: skip

#: How each SelfAssessment field is read from a cell. The mapping names fields, code reads them.
FIELD_KINDS: dict[str, Kind] = {
    "source_id": "text",
    "assessed_on": "date",
    "consent_sharing": "bool",
    "identity.birth_name": "text",
    "identity.first_names": "names",
    "identity.used_name": "text",
    "identity.used_first_name": "text",
    "identity.sex": "sex",
    "identity.birth_date": "date",
    "identity.birth_insee": "insee",
    "identity.ins": "ins",
    "identity.phone": "text",
    "identity.email": "text",
    "identity.address": "text",
    **{
        f"answers.{name}": "bool"
        for name, f in Step1Answers.model_fields.items()
        if f.annotation in (bool, bool | None)
    },
    "answers.words_recalled": "int",
    "answers.chair_rise_seconds": "seconds",
    "answers.weight_loss_kg": "decimal",
    "answers.hearing_test": "hearing",
    "answers.hearing_score": "int",
    "answers.hearing_audiometry_db": "int",
    **{f"app_alerts.{d}": "bool" for d in DOMAINS},
    "app_alerts": "domains",
}


def _required_fields() -> set[str]:
    """Fields without a default in the models: the mapping must give them a column."""
    out = {
        name
        for name, f in SelfAssessment.model_fields.items()
        if f.is_required() and name not in {"reference", "identity", "answers", "app_alerts"}
    }
    out |= {f"identity.{n}" for n, f in Identity.model_fields.items() if f.is_required()}
    out |= {f"answers.{n}" for n, f in Step1Answers.model_fields.items() if f.is_required()}
    return out


def normalize_header(text: str) -> str:
    """A header as compared: no case, accents, spaces or punctuation ("Né(e) le" → "neele")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed.casefold() if c.isalnum() and c.isascii())


def normalize_value(text: str) -> str:
    """A cell value as compared with synonyms: no case or accents, spaces folded."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace("’", "'").split())


class ColumnSpec(BaseModel):
    """One column of the export: its header, other spellings, and how strictly it is needed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    header: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    required: bool = True  # the column must be in the file (cells may still be empty if optional)
    values: dict[str, str] = Field(default_factory=dict)  # column-specific codes, read first
    invert: bool = False  # oui/non column phrased the other way round


class ValueSynonyms(BaseModel):
    """Cell values the app may write for each code (compared without case or accents)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    booleans: dict[Literal["true", "false"], tuple[str, ...]]
    not_done: tuple[str, ...] = ()
    sex: dict[Sex, tuple[str, ...]]
    hearing_test: dict[HearingTest, tuple[str, ...]]
    domains: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = set(v) - set(DOMAINS)
        if unknown:
            raise ValueError(f"domaines inconnus : {sorted(unknown)} (connus : {list(DOMAINS)})")
        return v

    @model_validator(mode="after")
    def _no_value_means_two_things(self) -> ValueSynonyms:
        groups: dict[str, dict[Any, tuple[str, ...]]] = {
            "booleans": dict(self.booleans),
            "sex": dict(self.sex),
            "hearing_test": dict(self.hearing_test),
            "domains": dict(self.domains),
        }
        for group, table in groups.items():
            seen: dict[str, Any] = {}
            for code, words in table.items():
                for w in words:
                    n = normalize_value(w)
                    if n in seen and seen[n] != code:
                        raise ValueError(
                            f"values.{group} : « {w} » veut dire à la fois {seen[n]} et {code}"
                        )
                    seen[n] = code
        return self


class ExportMapping(BaseModel):
    """mappings/icope_et_moi.yaml: the export format, entirely (see the file's comments)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    reference_prefix: str = Field("ICM-", max_length=16)
    hash_prefix: str = Field("H-", max_length=16)
    header_search_rows: int = Field(10, ge=1, le=100)
    date_formats: tuple[str, ...] = ("%d/%m/%Y", "%Y-%m-%d")
    excel_serial_dates: bool = True
    insee_pad_to: int | None = 5
    names_separator: str = r"\s*[,;]\s*|\s+"
    values: ValueSynonyms
    columns: dict[str, ColumnSpec]

    @field_validator("names_separator")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(
                f"names_separator n'est pas une expression régulière valide : {e}"
            ) from e
        return v

    @model_validator(mode="after")
    def _columns_cover_the_model(self) -> ExportMapping:
        unknown = sorted(set(self.columns) - set(FIELD_KINDS))
        if unknown:
            raise ValueError(f"colonnes pour des champs inconnus : {unknown}")
        if "app_alerts" in self.columns:
            if any(k.startswith("app_alerts.") for k in self.columns):
                raise ValueError("app_alerts : soit une colonne par domaine, soit une seule liste")
            if not self.values.domains:
                raise ValueError("app_alerts en une liste demande values.domains")
        elif missing := [d for d in DOMAINS if f"app_alerts.{d}" not in self.columns]:
            raise ValueError(f"alertes de l'application sans colonne : {missing}")
        if missing := sorted(_required_fields() - set(self.columns)):
            raise ValueError(f"champs obligatoires sans colonne : {missing}")
        seen: dict[str, str] = {}
        for key, spec in self.columns.items():
            if spec.invert and FIELD_KINDS[key] != "bool":
                raise ValueError(f"{key} : invert ne s'applique qu'à une colonne oui/non")
            for h in (spec.header, *spec.aliases):
                n = normalize_header(h)
                if not n:
                    raise ValueError(f"{key} : l'en-tête « {h} » est vide une fois normalisé")
                if seen.get(n, key) != key:
                    raise ValueError(f"l'en-tête « {h} » est donné pour {seen[n]} et pour {key}")
                seen[n] = key
        return self

    def matchers(self) -> dict[str, str]:
        """Normalised header → field key."""
        return {
            normalize_header(h): key
            for key, spec in self.columns.items()
            for h in (spec.header, *spec.aliases)
        }


@cache
def load_mapping(path: Path = MAPPING_FILE) -> ExportMapping:
    """Read and validate the export mapping (once per process and path)."""
    return ExportMapping.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------------------------
# Reading a file: detection, header row, chunks of string cells
# --------------------------------------------------------------------------------------------


class FileRefused(Exception):
    """The whole file cannot be ingested; the message says why, in French."""


@dataclass
class Detected:
    """What was found out about a file before reading its rows."""

    kind: str = ""  # "XLSX" or "CSV"
    encoding: str | None = None  # label for a person
    separator: str | None = None
    sheet: str | None = None
    header_row: int = 1  # spreadsheet row of the headers

    def describe(self) -> str:
        parts = [self.kind]
        if self.sheet:
            parts.append(f"feuille « {self.sheet} »")
        if self.encoding:
            parts.append(self.encoding)
        if self.separator:
            parts.append(f"séparateur « {_SEPARATOR_NAMES.get(self.separator, self.separator)} »")
        if self.header_row != 1:
            parts.append(f"en-têtes ligne {self.header_row}")
        return ", ".join(p for p in parts if p)


_SEPARATOR_NAMES = {";": ";", ",": ",", "\t": "tabulation", "|": "|"}


@dataclass
class _Source:
    detected: Detected
    headers: list[str]
    chunks: Iterator[tuple[int, list[list[str]]]]  # (row number of the first row, columns)
    close: Callable[[], None] = lambda: None


def _best_header_row(rows: Sequence[Sequence[str]], matchers: dict[str, str]) -> tuple[int, int]:
    """(index, known headers) of the row that looks most like the header row."""
    best = (0, -1)
    for i, row in enumerate(rows):
        known = len({matchers[n] for c in row if (n := normalize_header(c)) in matchers})
        if known > best[1]:
            best = (i, known)
    return best


def _detect_encoding(path: Path) -> tuple[str, str]:
    """(codec, label): BOM first, then strict UTF-8 over the whole file, else Windows-1252/latin-1."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", "UTF-8 avec BOM"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "UTF-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := f.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8", "UTF-8"
        except UnicodeDecodeError:
            pass
        f.seek(0)
        c1 = False
        while block := f.read(1 << 20):
            if any(b in block for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")):
                return "latin-1", "ISO-8859-1 (latin-1)"
            c1 = c1 or re.search(rb"[\x80-\x9f]", block) is not None
    # cp1252 and latin-1 agree outside 0x80–0x9F; name the one the bytes show
    return "cp1252", "Windows-1252" if c1 else "ISO-8859-1 (latin-1)"


def _read_csv(path: Path, mapping: ExportMapping, chunk_rows: int) -> _Source:
    codec, label = _detect_encoding(path)
    with path.open("r", encoding=codec, errors="replace", newline="") as f:
        sample = f.read(256 * 1024)
    if not sample.strip():
        raise FileRefused("le fichier est vide")
    skip = 0
    first_line = sample.splitlines()[0] if sample else ""
    hinted = re.fullmatch(r'"?sep=(.)"?', first_line.strip())  # Excel's "sep=;" first line
    if hinted:
        skip = 1
        sample = sample[len(first_line) :].lstrip("\r\n")
    matchers = mapping.matchers()
    best: tuple[int, int, int, str] | None = None  # (known, columns, -row, separator)
    for sep in [hinted.group(1)] if hinted else [";", ",", "\t", "|"]:
        rows = []
        reader = csv.reader(io.StringIO(sample), delimiter=sep)
        try:
            for _, row in zip(range(mapping.header_search_rows), reader, strict=False):
                rows.append(row)
        except csv.Error:
            continue
        if not rows:
            continue
        i, known = _best_header_row(rows, matchers)
        candidate = (known, len(rows[i]), -i, sep)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        raise FileRefused("le fichier n'est pas un CSV lisible")
    _, ncols, neg_row, sep = best
    header_idx = -neg_row
    headers = next(
        r for i, r in enumerate(csv.reader(io.StringIO(sample), delimiter=sep)) if i == header_idx
    )
    detected = Detected("CSV", label, sep, header_row=header_idx + 1)
    reader = pd.read_csv(
        path,
        sep=sep,
        encoding=codec,
        encoding_errors="strict",
        header=None,
        names=list(range(ncols)),
        index_col=False,
        skiprows=skip + header_idx + 1,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        quotechar='"',
        chunksize=chunk_rows,
        engine="c",
    )

    def chunks() -> Iterator[tuple[int, list[list[str]]]]:
        row = header_idx + 2
        try:
            for df in reader:
                yield row, [df[c].to_numpy(dtype=object).tolist() for c in df.columns]
                row += len(df)
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:
                raise FileRefused(
                    f"la ligne {int(m.group(2)) - skip} a {m.group(3)} cellules au lieu de "
                    f"{m.group(1)} (séparateur « {sep} » ou guillemets mal fermés ?)"
                ) from e
            raise FileRefused("le fichier CSV est mal formé (guillemets mal fermés ?)") from e

    return _Source(detected, headers, chunks(), reader.close)


def _cell_text(v: object) -> str:
    """An XLSX cell as the text a person sees (dates French, whole numbers without '.0')."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "Vrai" if v else "Faux"
    if isinstance(v, datetime):
        return f"{v:%d/%m/%Y}" if v.time() == datetime.min.time() else f"{v:%d/%m/%Y %H:%M:%S}"
    if isinstance(v, date):
        return f"{v:%d/%m/%Y}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class _Workbook:
    """The sheets of an XLSX file as rows of cell values, whatever library reads them.

    python-calamine (Rust) reads a 100,000-row sheet about 15 times faster than openpyxl's
    read-only mode; openpyxl stays as the fallback where calamine is not installed.
    """

    def __init__(self, path: Path, engine: str | None = None) -> None:
        self.engine = engine or ("calamine" if _has_calamine() else "openpyxl")
        self._sheets: dict[str, Any] = {}
        try:
            if self.engine == "calamine":
                from python_calamine import CalamineWorkbook

                self._wb: Any = CalamineWorkbook.from_path(str(path))
                self.names: list[str] = list(self._wb.sheet_names)
            else:
                import openpyxl

                self._wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
                self.names = list(self._wb.sheetnames)
        except Exception as e:  # zip, XML, format errors of every kind: not a workbook
            raise FileRefused("ce n'est pas un classeur Excel (.xlsx) lisible") from e

    def rows(self, name: str, limit: int | None = None) -> Iterator[Sequence[object]]:
        """Rows from the sheet's first row (row 1 is the first yielded, empty or not)."""
        if self.engine == "calamine":
            if name not in self._sheets:  # calamine reads a whole sheet at once: only once
                self._sheets[name] = self._wb.get_sheet_by_name(name)
            sheet = self._sheets[name]
            if sheet.start is None:  # an empty sheet
                return iter(())
            # calamine yields from row 1 but from the first used column: columns are relative
            it: Iterator[Sequence[object]] = iter(sheet.iter_rows())
        else:
            it = self._wb[name].iter_rows(values_only=True)
        return it if limit is None else (r for _, r in zip(range(limit), it, strict=False))

    def close(self) -> None:
        if self.engine == "openpyxl":
            self._wb.close()


@cache
def _has_calamine() -> bool:
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return False
    return True


def _read_xlsx(
    path: Path, mapping: ExportMapping, chunk_rows: int, engine: str | None = None
) -> _Source:
    wb = _Workbook(path, engine)
    matchers = mapping.matchers()
    best: tuple[int, int, int, str] | None = None  # (known, -sheet order, -row, sheet)
    for order, name in enumerate(wb.names):
        top = [[_cell_text(c) for c in r] for r in wb.rows(name, mapping.header_search_rows)]
        if not any(any(c.strip() for c in r) for r in top):
            continue
        i, known = _best_header_row(top, matchers)
        candidate = (known, -order, -i, name)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        wb.close()
        raise FileRefused("le classeur est vide")
    _, _, neg_row, title = best
    header_idx = -neg_row
    rows = wb.rows(title)
    for _ in range(header_idx):
        next(rows)
    headers = [_cell_text(c).strip() for c in next(rows, ())]
    while headers and not headers[-1]:
        headers.pop()
    ncols = len(headers)
    sheet = title if len(wb.names) > 1 else None
    detected = Detected("XLSX", None, None, sheet=sheet, header_row=header_idx + 1)

    def chunks() -> Iterator[tuple[int, list[list[str]]]]:
        start = header_idx + 2
        batch: list[Sequence[object]] = []
        for r in rows:
            batch.append(r)
            if len(batch) == chunk_rows:
                yield start, _columns(batch, ncols)
                start += len(batch)
                batch = []
        if batch:
            yield start, _columns(batch, ncols)

    return _Source(detected, headers, chunks(), wb.close)


def _columns(batch: list[Sequence[object]], ncols: int) -> list[list[str]]:
    """Rows of XLSX values → columns of text (short rows padded, extra cells dropped)."""
    out = [
        [v if type(v) is str else _cell_text(v) for v in col]
        for col in itertools.islice(itertools.zip_longest(*batch), ncols)
    ]
    out += [[""] * len(batch) for _ in range(ncols - len(out))]
    return out


def _open(
    path: Path, mapping: ExportMapping, chunk_rows: int, xlsx_engine: str | None = None
) -> _Source:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, mapping, chunk_rows, xlsx_engine)
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, mapping, chunk_rows)
    if suffix == ".xls":
        raise FileRefused(
            "l'ancien format Excel .xls n'est pas lu : enregistrez le fichier au format "
            ".xlsx ou .csv depuis Excel"
        )
    raise FileRefused(f"format « {suffix or 'sans extension'} » non pris en charge (.xlsx ou .csv)")


# --------------------------------------------------------------------------------------------
# Columns: header → field, and cells → typed values
# --------------------------------------------------------------------------------------------


def _map_columns(headers: list[str], mapping: ExportMapping) -> tuple[dict[str, int], list[str]]:
    """Field key → column index, and the ignored headers; FileRefused when required ones lack."""
    matchers = mapping.matchers()
    found: dict[str, list[int]] = {}
    ignored = []
    for i, h in enumerate(headers):
        key = matchers.get(normalize_header(h))
        if key is None:
            if h.strip():
                ignored.append(h.strip())
            continue
        found.setdefault(key, []).append(i)
    index: dict[str, int] = {}
    problems = []
    for key, cols in found.items():
        canonical = [
            i
            for i in cols
            if normalize_header(headers[i]) == normalize_header(mapping.columns[key].header)
        ]
        if len(cols) == 1 or len(canonical) == 1:
            index[key] = canonical[0] if len(canonical) == 1 else cols[0]
        else:
            names = " et ".join(f"« {headers[i].strip()} »" for i in cols)
            problems.append(
                f"deux colonnes correspondent à « {mapping.columns[key].header} » : {names}"
            )
    candidates = {normalize_header(h): h.strip() for h in ignored}
    for key, spec in mapping.columns.items():
        if key in index or not spec.required:
            continue
        closest = difflib.get_close_matches(
            normalize_header(spec.header), list(candidates), n=1, cutoff=0.6
        )
        hint = (
            f"en-tête le plus proche trouvé : « {candidates[closest[0]]} »"
            if closest
            else "aucun en-tête ressemblant dans le fichier"
        )
        problems.append(f"colonne obligatoire « {spec.header} » absente ({hint})")
    if problems:
        raise FileRefused(" ; ".join(problems))
    return index, ignored


class _Skip:
    """Marks a cell that gives no value: empty, or unreadable (its reason is kept apart)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<skip>"


SKIP: Any = _Skip()
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


class _CellReader:
    """Turns one distinct cell text into a typed value or a French reason, per kind."""

    def __init__(self, mapping: ExportMapping) -> None:
        self.m = mapping
        v = mapping.values
        self.booleans = {
            normalize_value(w): code == "true" for code, ws in v.booleans.items() for w in ws
        }
        self.not_done = {normalize_value(w) for w in v.not_done}
        self.sex = {normalize_value(w): code.value for code, ws in v.sex.items() for w in ws}
        self.hearing = {
            normalize_value(w): code.value for code, ws in v.hearing_test.items() for w in ws
        }
        self.domains = {normalize_value(w): d for d, ws in v.domains.items() for w in ws}
        self.names_split = re.compile(mapping.names_separator)

    def read(self, kind: Kind, text: str) -> tuple[Any, str | None]:
        s = text.strip()
        if not s:
            return SKIP, None
        return getattr(self, f"_{kind}")(s)

    def _text(self, s: str) -> tuple[Any, str | None]:
        return s, None

    def _date(self, s: str) -> tuple[Any, str | None]:
        m = _DMY.fullmatch(s) or _YMD.fullmatch(s)
        if m:
            a, b, c = (int(g) for g in m.groups())
            d, mo, y = (a, b, c) if m.re is _DMY else (c, b, a)
            try:
                return date(y, mo, d), None
            except ValueError:
                return SKIP, f"la date « {s} » n'existe pas"
        for fmt in self.m.date_formats:
            try:
                return datetime.strptime(s, fmt).date(), None
            except ValueError:
                continue
        if self.m.excel_serial_dates and re.fullmatch(r"\d{1,6}(?:[.,]\d+)?", s):
            serial = float(s.replace(",", "."))
            if 1 <= serial < 2_958_466:  # Excel's own range (1900-01-01 .. 9999-12-31)
                return date(1899, 12, 30) + timedelta(days=int(serial)), None
        return SKIP, f"« {s} » n'est pas une date (attendu jj/mm/aaaa)"

    def _bool(self, s: str) -> tuple[Any, str | None]:
        v = self.booleans.get(normalize_value(s))
        if v is None:
            return SKIP, f"la réponse « {s} » n'est pas reconnue (attendu Oui ou Non)"
        return v, None

    def _decimal(self, s: str) -> tuple[Any, str | None]:
        compact = s.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")
        if not _NUMBER.fullmatch(compact):
            return SKIP, f"« {s} » n'est pas un nombre"
        v = float(compact.replace(",", "."))
        if not math.isfinite(v):
            return SKIP, f"« {s} » n'est pas un nombre"
        return v, None

    def _int(self, s: str) -> tuple[Any, str | None]:
        v, err = self._decimal(s)
        if err:
            return v, err
        if not float(v).is_integer():
            return SKIP, f"« {s} » n'est pas un nombre entier"
        return int(v), None

    def _seconds(self, s: str) -> tuple[Any, str | None]:
        if normalize_value(s) in self.not_done:
            return None, None
        v, err = self._decimal(s)
        if err:
            return v, f"« {s} » n'est ni un nombre de secondes ni « Non réalisé »"
        return v, None

    def _names(self, s: str) -> tuple[Any, str | None]:
        parts = tuple(p for p in self.names_split.split(s) if p)
        return (parts or SKIP), None

    def _sex(self, s: str) -> tuple[Any, str | None]:
        v = self.sex.get(normalize_value(s))
        if v is None:
            return SKIP, f"le code sexe « {s} » n'est pas reconnu (attendu F, M ou I)"
        return v, None

    def _hearing(self, s: str) -> tuple[Any, str | None]:
        v = self.hearing.get(normalize_value(s))
        if v is None:
            return SKIP, (
                f"le test d'audition « {s} » n'est pas reconnu "
                "(attendu Aucun, Chuchotement, hearWHO ou Audiométrie)"
            )
        return v, None

    def _ins(self, s: str) -> tuple[Any, str | None]:
        m = re.sub(r"[\s.\-\u00a0]", "", s).upper()
        if len(m) != 15:
            return SKIP, f"le matricule INS « {s} » doit avoir 15 caractères (il en a {len(m)})"
        return m, None

    def _insee(self, s: str) -> tuple[Any, str | None]:
        v = s.upper()
        pad = self.m.insee_pad_to
        if pad and v.isdigit() and len(v) == pad - 1:
            v = v.zfill(pad)
        return v, None

    def _domains(self, s: str) -> tuple[Any, str | None]:
        found = {}
        for part in re.split(r"\s*[,;/+]\s*", s):
            n = normalize_value(part)
            if not n or n in ("aucune", "aucun", "non"):
                continue
            d = self.domains.get(n)
            if d is None:
                return SKIP, f"le domaine « {part} » n'est pas reconnu"
            found[d] = True
        return {d: d in found for d in DOMAINS}, None


_CACHED_KINDS = {"date", "bool", "int", "decimal", "seconds", "sex", "hearing", "domains", "names"}


class _ColumnReader:
    """Reads whole columns: each distinct text of a coded column is parsed once (factorize)."""

    def __init__(self, mapping: ExportMapping) -> None:
        self.cells = _CellReader(mapping)
        self.cache: dict[tuple[str, str], tuple[Any, str | None]] = {}
        self.specs = mapping.columns

    def read(self, key: str, texts: list[str]) -> tuple[list[Any], dict[int, str]]:
        """Typed values (SKIP when none) and reasons by row index within the chunk."""
        kind = FIELD_KINDS[key]
        spec = self.specs[key]
        synonyms = {normalize_value(k): v for k, v in spec.values.items()}
        if kind == "text" and not synonyms:
            return [t.strip() or SKIP for t in texts], {}
        if kind not in _CACHED_KINDS and not synonyms:
            values, errors = [], {}
            for i, t in enumerate(texts):
                v, err = self.cells.read(kind, t)
                values.append(v)
                if err:
                    errors[i] = err
            return values, errors
        codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
        parsed: list[Any] = []
        reasons: list[str | None] = []
        for u in uniques:
            t = synonyms.get(normalize_value(u), u) if synonyms else u
            hit = self.cache.get((key, t))
            if hit is None:
                hit = self.cells.read(kind, t)
                if spec.invert and isinstance(hit[0], bool):
                    hit = (not hit[0], hit[1])
                if len(self.cache) < 200_000:
                    self.cache[(key, t)] = hit
            parsed.append(hit[0])
            reasons.append(hit[1])
        # element by element: np.asarray would turn a list of tuples into a 2-D array
        table = np.empty(len(parsed) + 1, dtype=object)
        for j, v in enumerate(parsed):
            table[j] = v
        table[-1] = SKIP
        values = table[codes].tolist()
        bad = [j for j, r in enumerate(reasons) if r]
        errors = {}
        if bad:
            for i in np.flatnonzero(np.isin(codes, bad)).tolist():
                errors[i] = reasons[codes[i]]
        return values, errors


# --------------------------------------------------------------------------------------------
# Rows: typed values → SelfAssessment, or reasons a person understands
# --------------------------------------------------------------------------------------------


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}".replace(".", ",")
    if isinstance(v, date):
        return f"{v:%d/%m/%Y}"
    if isinstance(v, bool):
        return "Oui" if v else "Non"
    return str(v)


_RESULT_FIELDS = {
    HearingTest.WHISPER.value: "hearing_whisper_passed",
    HearingTest.HEARWHO.value: "hearing_score",
    HearingTest.AUDIOMETRY.value: "hearing_audiometry_db",
}
_TEST_LABELS = {
    "aucun": "Aucun",
    "chuchotement": "Chuchotement",
    "hearwho": "hearWHO",
    "audiometrie": "Audiométrie",
}


class _RowJudge:
    """Explains why a row was refused, in sentences naming the file's own column headers."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = dict(headers)  # field key → header as written in the file
        if "source_id" in headers:
            self.headers["reference"] = headers["source_id"]  # the reference is built from it

    def column(self, key: str) -> str:
        return f"colonne « {self.headers[key]} »" if key in self.headers else ""

    def sentence(self, row: int, key: str | None, reason: str) -> str:
        where = self.column(key) if key else ""
        return f"Ligne {row}, {where} : {reason}" if where else f"Ligne {row} : {reason}"

    def explain(
        self, row: int, exc: ValidationError, answers: dict[str, Any], unreadable: set[str]
    ) -> list[str]:
        out = []
        for err in exc.errors(include_url=False):
            loc = [p for p in err["loc"] if isinstance(p, str)]
            key = ".".join(loc)
            if err["type"] == "missing" and key in unreadable:
                continue  # already explained: the cell was there but could not be read
            if key == "answers" and "audition" in err["msg"]:
                out.append(self._hearing(row, answers))
                continue
            out.append(self.sentence(row, key if key in self.headers else None, _why(err)))
        return out

    def _hearing(self, row: int, answers: dict[str, Any]) -> str:
        test = answers.get("hearing_test", HearingTest.NONE.value)
        label = _TEST_LABELS.get(test, test)
        expected = _RESULT_FIELDS.get(test)
        for name in _RESULT_FIELDS.values():
            key = f"answers.{name}"
            if name != expected and answers.get(name) is not None:
                return self.sentence(
                    row,
                    key,
                    f"un résultat (« {_fmt(answers[name])} ») est donné alors que le test "
                    f"d'audition indiqué est « {label} »",
                )
        key = f"answers.{expected}"
        col = self.headers.get(key, key)
        return self.sentence(
            row,
            "answers.hearing_test",
            f"le test d'audition est « {label} » mais la colonne « {col} » est vide",
        )


def _why(err: Any) -> str:
    """One pydantic error as a French reason (models' own messages are already French)."""
    kind, inp, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    match kind:
        case "missing" | "too_short" | "string_too_short":
            return "la cellule est vide alors qu'elle est obligatoire"
        case "value_error":
            return str(ctx.get("error", err["msg"]))
        case "greater_than_equal" | "greater_than":
            bound = ctx.get("ge", ctx.get("gt"))
            if bound == 0 and isinstance(inp, int | float) and inp < 0:
                return f"la valeur « {_fmt(inp)} » est négative, ce qui est impossible ici"
            return f"la valeur « {_fmt(inp)} » est trop petite (au moins {_fmt(bound)})"
        case "less_than_equal" | "less_than":
            bound = ctx.get("le", ctx.get("lt"))
            return f"la valeur « {_fmt(inp)} » est trop grande (au plus {_fmt(bound)})"
        case "string_too_long":
            return f"le texte est trop long ({ctx.get('max_length')} caractères au plus)"
    return f"valeur « {_fmt(inp)} » refusée ({err['msg']})"


# --------------------------------------------------------------------------------------------
# Ingesting a file into the queue
# --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What one ingestion did, for a person (rich table) or a program (JSON)."""

    file: str
    detected: str = ""
    read: int = 0  # data rows read (blank rows not counted)
    new: int = 0
    duplicates: int = 0  # already in the queue, same content: nothing added
    conflicts: int = 0  # already in the queue with other content: flagged, not overwritten
    invalid: int = 0  # quarantined with reasons
    fixed: int = 0  # quarantined by an earlier export, valid in this one: now pending
    refused: str | None = None  # why the whole file was refused (then nothing else happened)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    archived_as: str | None = None  # inbox only
    already_ingested: bool = False  # inbox only: same content ingested before, skipped

    @property
    def ok(self) -> bool:
        return self.refused is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_GROUPS = ("identity", "answers", "app_alerts")


def _reference_hash(a: SelfAssessment) -> str:
    """Stable over re-exports: identity + assessment date + answers (not the app's alerts)."""
    payload = a.model_dump(mode="json", include={"identity", "assessed_on", "answers"})
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _raw_hash(raw: dict[str, str]) -> str:
    blob = json.dumps(list(raw.values()), ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_PII_KEYS = (
    "identity.birth_name",
    "identity.first_names",
    "identity.used_name",
    "identity.used_first_name",
)


def ingest_file(
    path: Path | str,
    queue: WorkQueue,
    mapping: ExportMapping | None = None,
    *,
    source: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    xlsx_engine: str | None = None,
) -> Summary:
    """Validate every row of an export and queue it (valid) or quarantine it (invalid)."""
    path = Path(path)
    mapping = mapping or load_mapping()
    source = source or path.name
    summary = Summary(file=path.name)
    started = time.perf_counter()
    try:
        src = _open(path, mapping, chunk_rows, xlsx_engine)
    except FileRefused as e:
        summary.refused = f"Fichier « {path.name} » refusé : {e}."
    except FileNotFoundError:
        summary.refused = f"Fichier « {path.name} » introuvable."
    except (OSError, UnicodeError, csv.Error, pd.errors.ParserError) as e:
        summary.refused = f"Fichier « {path.name} » illisible ({type(e).__name__})."
    else:
        summary.detected = src.detected.describe()
        try:
            _ingest_rows(src, queue, mapping, source, summary)
        except FileRefused as e:
            summary.refused = f"Fichier « {path.name} » refusé : {e}."
        finally:
            src.close()
    summary.seconds = round(time.perf_counter() - started, 3)
    if summary.refused:
        logger.warning("ingestion refusée : {} ({})", path.name, summary.detected or "format ?")
    else:
        logger.info(
            "ingestion {} ({}) : {} lues, {} nouvelles, {} doublons, {} conflits, {} invalides",
            path.name,
            summary.detected,
            summary.read,
            summary.new,
            summary.duplicates,
            summary.conflicts,
            summary.invalid,
        )
    return summary


def _ingest_rows(
    src: _Source, queue: WorkQueue, mapping: ExportMapping, source: str, summary: Summary
) -> None:
    index, summary.ignored_columns = _map_columns(src.headers, mapping)
    headers = [h.strip() for h in src.headers]
    judge = _RowJudge({key: headers[i] for key, i in index.items()})
    reader = _ColumnReader(mapping)
    # fields as the model nests them: group → [(field name, key)]
    nesting: dict[str | None, list[tuple[str, str]]] = {}
    for key in index:
        group, _, name = key.rpartition(".")
        if key != "app_alerts":
            nesting.setdefault(group or None, []).append((name, key))
    alerts_listed = "app_alerts" in index
    kept = [i for i, h in enumerate(headers) if h]  # the raw row keeps the named columns
    kept_headers = [headers[i] for i in kept]
    ref_prefix, hash_prefix = mapping.reference_prefix, mapping.hash_prefix
    transaction = getattr(queue, "transaction", None)
    no_alert = dict.fromkeys(DOMAINS, False)

    for first_row, columns in src.chunks:
        n = len(columns[0]) if columns else 0
        raw_cols = [columns[i] if i < len(columns) else [""] * n for i in range(len(headers))]
        parsed: dict[str, list[Any]] = {}
        errors: dict[int, list[tuple[str, str]]] = {}
        for key, i in index.items():
            values, errs = reader.read(key, raw_cols[i])
            parsed[key] = values
            for r, reason in errs.items():
                errors.setdefault(r, []).append((key, reason))
        # names, and each birth first name apart (not the list): the log filter masks them
        names = {
            cell
            for key in _PII_KEYS
            if key in index and key != "identity.first_names"
            for cell in raw_cols[index[key]]
        }
        if "identity.first_names" in parsed:
            names.update(p for v in parsed["identity.first_names"] if v is not SKIP for p in v)
        register_pii(*names)

        top = [(name, parsed[key]) for name, key in nesting.get(None, [])]
        groups = [
            (g, [(name, parsed[key]) for name, key in fields]) for g, fields in nesting.items() if g
        ]
        listed = parsed["app_alerts"] if alerts_listed else None
        ops: list[tuple[str, Any]] = []
        for r, cells in enumerate(zip(*(raw_cols[i] for i in kept), strict=True)):
            if not any(cells):
                continue  # a blank line: not a row
            row = first_row + r
            data: dict[str, Any] = {name: v for name, col in top if (v := col[r]) is not SKIP}
            for g, fields in groups:
                data[g] = {name: v for name, col in fields if (v := col[r]) is not SKIP}
            if listed is not None:
                data["app_alerts"] = no_alert if listed[r] is SKIP else listed[r]
            source_id = data.get("source_id")
            data["reference"] = f"{ref_prefix}{source_id}" if source_id else "?"
            raw = dict(zip(kept_headers, cells, strict=True))
            try:
                assessment = SelfAssessment.model_validate(data)
                failure = None
            except ValidationError as e:
                assessment, failure = None, e
            if assessment is None or r in errors:
                cell_errors = errors.get(r, [])
                reasons = [judge.sentence(row, key, why) for key, why in cell_errors]
                if failure is not None:
                    unreadable = {key for key, _ in cell_errors}
                    reasons += judge.explain(row, failure, data.get("answers", {}), unreadable)
                ref = data["reference"] if source_id else f"{hash_prefix}{_raw_hash(raw)}"
                ops.append(("invalid", (ref, row, reasons, raw)))
                continue
            if not source_id:
                assessment = assessment.model_copy(
                    update={"reference": f"{hash_prefix}{_reference_hash(assessment)}"}
                )
            ops.append(("valid", (assessment, row, raw)))
        summary.read += len(ops)
        _apply(queue, ops, source, summary, transaction)


def _fix_quarantined(queue: WorkQueue, assessment: SelfAssessment, source: str, row: int) -> bool:
    """A row quarantined earlier comes back valid (same app id): the export fixed it."""
    if queue.get(assessment.reference).state != ItemState.INVALID:
        return False
    queue.transition(
        assessment.reference,
        ItemState.PENDING,
        actor="ingest",
        reason=f"Corrigé par un export ultérieur ({source}, ligne {row})",
        expect_from=[ItemState.INVALID],
        assessment=assessment,
    )
    return True


def _apply(
    queue: WorkQueue,
    ops: list[tuple[str, Any]],
    source: str,
    summary: Summary,
    transaction: Callable[[], Any] | None,
) -> None:
    """Enqueue one chunk, in one transaction when the queue offers it."""
    from bot.workqueue import EnqueueStatus

    def run() -> None:
        for what, args in ops:
            if what == "invalid":
                ref, row, reasons, raw = args
                queue.quarantine(ref, source=source, row=row, reasons=reasons, raw=raw)
                summary.invalid += 1
                continue
            assessment, row, raw = args
            status = queue.enqueue(assessment, source=source, row=row, raw=raw)
            if status == EnqueueStatus.NEW:
                summary.new += 1
            elif status == EnqueueStatus.DUPLICATE:
                summary.duplicates += 1
            elif _fix_quarantined(queue, assessment, source, row):
                summary.fixed += 1
            else:
                summary.conflicts += 1

    if transaction is None:
        run()
    else:
        with transaction():
            run()


# --------------------------------------------------------------------------------------------
# The inbox: every file ingested once, then archived
# --------------------------------------------------------------------------------------------

LEDGER_NAME = "ingested.jsonl"


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _ledger(archive: Path) -> dict[str, dict[str, Any]]:
    """Content hash → what was recorded when that content was ingested."""
    p = archive / LEDGER_NAME
    if not p.exists():
        return {}
    out = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            out[entry["sha256"]] = entry
    return out


def _record(archive: Path, entry: dict[str, Any]) -> None:
    p = archive / LEDGER_NAME
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _archive(path: Path, archive: Path, stamp: str, tag: str = "") -> Path:
    """Move a file into the archive under a dated name; never overwrite, never delete."""
    base = f"{stamp}{tag}_{path.name}"
    dest = archive / base
    n = 1
    while dest.exists():
        dest = archive / f"{Path(base).stem}-{n}{path.suffix}"
        n += 1
    shutil.move(str(path), dest)
    dest.chmod(0o600)
    return dest


def inbox_files(inbox: Path) -> list[Path]:
    """Export files waiting in the inbox (Excel lock files and hidden files left alone)."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file()
        and p.suffix.lower() in EXTENSIONS
        and not p.name.startswith(("~$", ".", "_"))
    )


def ingest_inbox(
    settings: Settings,
    queue: WorkQueue | None = None,
    *,
    now: Callable[[], datetime] = datetime.now,
) -> list[Summary]:
    """Ingest every export in the inbox once, then move it to the archive under a dated name.

    The content hash of each ingested file is appended to ``archive_dir/ingested.jsonl`` (0600):
    the same content, even renamed, is archived without being ingested again. A refused file is
    archived with ``_REFUSE`` in its name and not recorded, so it can be dropped in again once
    fixed. Runs under a file lock, so the scheduler and a person never ingest at the same time.
    """
    inbox, archive = Path(settings.inbox_dir), Path(settings.archive_dir)
    for d in (inbox, archive):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    archive.chmod(0o700)
    mapping = load_mapping(Path(settings.export_mapping))
    own_queue = queue is None
    if queue is None:
        from bot.workqueue import open_queue

        queue = open_queue(settings.queue_path)
    summaries = []
    try:
        with FileLock(str(archive / ".ingest.lock")):
            known = _ledger(archive)
            for path in inbox_files(inbox):
                stamp = now().strftime("%Y%m%d-%H%M%S")
                digest = _file_sha256(path)
                if digest in known:
                    dest = _archive(path, archive, stamp, "_DEJA-INGERE")
                    s = Summary(file=path.name, already_ingested=True, archived_as=dest.name)
                    s.detected = (
                        f"contenu déjà ingéré (archivé sous « {known[digest]['archived_as']} »)"
                    )
                    logger.info("inbox : {} déjà ingéré, archivé sans réingestion", path.name)
                    summaries.append(s)
                    continue
                s = ingest_file(path, queue, mapping)
                dest = _archive(path, archive, stamp, "" if s.ok else "_REFUSE")
                s.archived_as = dest.name
                if s.ok:
                    entry = {
                        "sha256": digest,
                        "file": path.name,
                        "archived_as": dest.name,
                        "at": now().isoformat(timespec="seconds"),
                        **{
                            k: getattr(s, k)
                            for k in ("read", "new", "duplicates", "conflicts", "invalid")
                        },
                    }
                    _record(archive, entry)
                    known[digest] = entry
                summaries.append(s)
    finally:
        if own_queue:
            queue.close()
    return summaries


# --------------------------------------------------------------------------------------------
# Telling a person what happened
# --------------------------------------------------------------------------------------------


def summary_table(summaries: Sequence[Summary]) -> Any:
    """A rich table: one line per file (refusals spelled out under the table by the caller)."""
    from rich.table import Table

    table = Table(title="Ingestion des exports ICOPE et Moi")
    table.add_column("Fichier")
    table.add_column("Format détecté")
    for label in ("Lues", "Nouvelles", "Doublons", "Conflits", "Invalides"):
        table.add_column(label, justify="right")
    for s in summaries:
        if s.refused:
            table.add_row(s.file, s.detected or "?", "—", "—", "—", "—", "—", style="red")
            continue
        table.add_row(
            s.file,
            s.detected,
            str(s.read),
            str(s.new),
            str(s.duplicates),
            str(s.conflicts),
            str(s.invalid),
            style="dim" if s.already_ingested else ("yellow" if s.invalid or s.conflicts else None),
        )
    return table
