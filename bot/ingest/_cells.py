"""Columns: file headers → model fields, and cell texts → typed values or French reasons."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bot.ingest._mapping import FIELD_KINDS, ExportMapping, Kind, normalize_header, normalize_value
from bot.ingest._read import FileRefused
from bot.models import DOMAINS


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
        self.no_domain = {normalize_value(w) for w in v.no_domain}
        self.names_split = re.compile(mapping.names_separator)

    def read(self, kind: Kind, text: str) -> tuple[Any, str | None]:
        s = text.strip()
        if not s:
            return SKIP, None
        # One method per kind, named after it (``_text``, ``_date``…).
        parse: Callable[[str], tuple[Any, str | None]] = getattr(self, f"_{kind}")
        return parse(s)

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
            if not n or n in self.no_domain:
                continue
            d = self.domains.get(n)
            if d is None:
                return SKIP, f"le domaine « {part} » n'est pas reconnu"
            found[d] = True
        return {d: d in found for d in DOMAINS}, None


# Kinds whose distinct values are few (codes, dates, names, places): each is parsed once per file.
_CACHED_KINDS = {
    "date", "bool", "int", "decimal", "seconds", "sex", "hearing", "domains", "names", "insee",
}  # fmt: skip


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
