"""Identitovigilance as the e-parcours applies it: trait normalisation, INS key, French dates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

__all__ = ["format_date", "ins_key_ok", "normalize", "parse_date", "parse_decimal", "strict_key"]

_INS_RE = re.compile(r"^[12378]\d{4}(?:\d{2}|2A|2B)\d{6}\d{2}$")


def normalize(value: str) -> str:
    """Upper case, no diacritics, hyphens and apostrophes as spaces, spaces folded (RNIV)."""
    decomposed = unicodedata.normalize("NFKD", value)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.replace("Œ", "OE").replace("œ", "oe").replace("Æ", "AE").replace("æ", "ae")
    return " ".join(re.sub(r"[-‐‑'’`´]", " ", plain.upper()).split())


def strict_key(
    birth_name: str, first_first_name: str, birth_date: str, sex: str, insee: str
) -> str:
    """The strict traits of an identity, normalised and joined: equal keys are potential doubles."""
    return "|".join(
        (normalize(birth_name), normalize(first_first_name), birth_date, sex, insee.upper())
    )


def ins_key_ok(matricule: str) -> bool:
    """True when a 15-character INS matricule is well formed and its key is 97 − (13 digits mod 97)."""
    m = matricule.replace(" ", "").upper()
    if not _INS_RE.match(m):
        return False
    digits = m[:5] + {"2A": "19", "2B": "18"}.get(m[5:7], m[5:7]) + m[7:13]
    return 97 - int(digits) % 97 == int(m[13:])


def parse_date(text: str) -> date | None:
    """A jj/mm/aaaa date, or None when the text is not one."""
    text = text.strip()
    if not re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
        return None
    try:
        return datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        return None


def format_date(value: date | str) -> str:
    """jj/mm/aaaa, from a date or an ISO string."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return value.strftime("%d/%m/%Y")


def parse_decimal(text: str) -> float | None:
    """A decimal number written with a comma or a dot, or None when it is not one."""
    text = text.strip().replace(",", ".")
    if not re.fullmatch(r"\d+(?:\.\d+)?", text):
        return None
    return float(text)
