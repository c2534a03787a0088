"""Fictitious usagers loaded at start-up so a demo has dossiers to search (homonyms included)."""

from __future__ import annotations

from sandbox.db import Store
from sandbox.forms import usager_record

__all__ = ["DEMO_USAGERS", "load_demo_usagers"]


def _ins(first13: str) -> str:
    return f"{first13}{97 - int(first13) % 97:02d}"


# (birth name, used name, first names, sex, birth date, INSEE, INS or "", status)
DEMO_USAGERS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("MARTIN", "", "Jeanne Marie", "F", "12/03/1941", "37261", "", "provisoire"),
    ("MARTIN", "DURAND", "Jeanne", "F", "02/11/1946", "45234", "", "validee"),
    ("MARTIN", "", "Jean Louis", "M", "12/03/1941", "37261", "", "provisoire"),
    ("BERNARD", "", "Paulette", "F", "25/07/1938", "18033", _ins("2380718033012"), "qualifiee"),
    ("PETIT", "LEROY", "Monique Andrée", "F", "08/01/1944", "41018", "", "recuperee"),
    ("DUBOIS", "", "René", "M", "30/09/1940", "36044", "", "provisoire"),
    ("LE GUEN", "", "Yvette", "F", "14/02/1943", "29019", "", "provisoire"),
    ("N'DIAYE", "", "Aminata", "F", "01/06/1950", "99341", "", "provisoire"),
    ("LEFÈVRE", "", "Gérard", "M", "19/12/1939", "28085", _ins("1391228085044"), "qualifiee"),
    ("GARCIA", "", "Lucienne", "F", "05/05/1937", "37261", "", "validee"),
    ("ROUX", "MOREL", "Odette", "F", "22/08/1942", "18015", "", "provisoire"),
    ("FOURNIER", "", "Marcel André", "M", "11/04/1936", "45234", "", "provisoire"),
)


def load_demo_usagers(store: Store) -> None:
    """Insert the demo usagers into an empty sandbox (no-op when there are usagers already)."""
    if store.counts()["usagers"]:
        return
    for birth_name, used_name, first_names, sex, birth, insee, ins, status in DEMO_USAGERS:
        values = {
            "birth_name": birth_name,
            "used_name": used_name,
            "first_names": first_names,
            "sex": sex,
            "birth_date": birth,
            "birth_insee": insee,
            "ins": ins,
            "identity_status": status,
            "consent": "on",
        }
        store.insert_usager(usager_record(values, created_by="demo"))
