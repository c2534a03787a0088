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


# --------------------------------------------------------------------------------------------
# What a cell may hold: invisible characters, bytes that are not text, sizes
# --------------------------------------------------------------------------------------------

#: Invisible and harmless: removed (a NUL or a zero-width space must not make a second reference).
_STRIP = "\x00\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060-\u2064\ufeff"
#: Direction overrides and isolates: they change the order in which a text is displayed.
_BIDI = "\u061c\u202a-\u202e\u2066-\u2069"
#: Control characters other than tab and line breaks (which text cells may hold).
_CONTROL = "\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_BAD_BYTES = "\udc80-\udcff"  # bytes that were not UTF-8, kept by the CSV reader's surrogateescape
_SUSPECT = re.compile(f"[{_STRIP}{_BIDI}{_CONTROL}{_BAD_BYTES}]")
_STRIP_RE = re.compile(f"[{_STRIP}]")
_BIDI_RE = re.compile(f"[{_BIDI}]")
_CONTROL_RE = re.compile(f"[{_CONTROL}]")
_BAD_BYTES_RE = re.compile(f"[{_BAD_BYTES}]")
_CHARACTER_NAMES = {
    "\u202a": "début d'incorporation gauche-à-droite",
    "\u202b": "début d'incorporation droite-à-gauche",
    "\u202c": "fin d'incorporation",
    "\u202d": "forçage gauche-à-droite",
    "\u202e": "forçage droite-à-gauche",
    "\u2066": "isolat gauche-à-droite",
    "\u2067": "isolat droite-à-gauche",
    "\u2068": "isolat de direction",
    "\u2069": "fin d'isolat",
    "\u061c": "marque de lettre arabe",
}


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def scrub_cell(text: str, max_chars: int) -> tuple[str, str | None]:
    """A cell made safe to keep: (text, French reason when the row must be refused).

    Invisible and harmless characters are removed; characters that change what a person reads
    (direction overrides, control characters) or bytes that are not text refuse the row. The
    text returned is always safe to store (bad bytes become U+FFFD, an oversized cell is cut).
    """
    if len(text) > max_chars:
        # what is kept of it is made safe too (a bad byte in it would not even encode)
        return scrub_cell(text[:max_chars], max_chars)[0] + "…", (
            f"la cellule fait {_thousands(len(text))} caractères, au-delà de la limite de "
            f"{_thousands(max_chars)} (celle d'une cellule Excel)"
        )
    if not _SUSPECT.search(text):
        return text, None
    if bad := _BAD_BYTES_RE.findall(text):
        shown = " ".join(f"0x{ord(c) - 0xDC00:02X}" for c in dict.fromkeys(bad))
        return _BAD_BYTES_RE.sub("\ufffd", text), (
            f"la cellule contient des octets qui ne sont pas du texte UTF-8 ({shown}) : la ligne "
            "a sans doute été saisie ou collée depuis un autre logiciel ; corrigez-la dans "
            "l'application ou dans le fichier"
        )
    text = _STRIP_RE.sub("", text)
    if m := _BIDI_RE.search(text):
        c = m.group()
        return _BIDI_RE.sub("", text), (
            f"la cellule contient un caractère invisible qui change l'ordre d'affichage du "
            f"texte (U+{ord(c):04X}, {_CHARACTER_NAMES.get(c, 'contrôle de direction')})"
        )
    if m := _CONTROL_RE.search(text):
        return _CONTROL_RE.sub("", text), (
            f"la cellule contient un caractère de contrôle invisible (U+{ord(m.group()):04X})"
        )
    return text, None


def scrub_column(texts: list[str], max_chars: int) -> tuple[list[str], dict[int, str]]:
    """:func:`scrub_cell` over a column; the common case (nothing to do) costs one search."""
    if (not texts or max(map(len, texts)) <= max_chars) and not _SUSPECT.search("".join(texts)):
        return texts, {}
    out, reasons = [], {}
    for i, t in enumerate(texts):
        clean, why = scrub_cell(t, max_chars)
        out.append(clean)
        if why:
            reasons[i] = why
    return out, reasons


#: Text decoded twice (UTF-8 read as Windows-1252): "Ã©" for é, "Ã¨" for è, "Â " for a
#: non-breaking space, "â€™" for ’. A real French name never holds these pairs.
_MOJIBAKE = re.compile(
    "Ã[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    "|Â[\u00a0-\u00bf]|â€"
)


def mojibake(text: str) -> str | None:
    """A French reason when a text shows the marks of a wrong encoding, else None."""
    m = _MOJIBAKE.search(text)
    if not m:
        return None
    return (
        f"« {text} » contient « {m.group()} », trace d'un texte converti dans le mauvais "
        "encodage (é devenu Ã©) : corrigez le nom dans l'application ou réenregistrez le "
        "fichier en UTF-8"
    )
