"""Communes → territory of the experiment, from the editable ``mappings/territories.yaml``."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from bot.errors import ConfigurationError
from bot.models import normalize_trait

__all__ = ["Territories", "load_territories", "place_of"]

_POSTAL = re.compile(r"\b(\d{5})\s+([^,\d][^,]*?)\s*$")


def place_of(address: str | None) -> tuple[str, str]:
    """(postcode, commune) of a French postal address ending "…, 37000 Tours"; ("", "") else."""
    m = _POSTAL.search((address or "").strip())
    return (m.group(1), m.group(2).strip()) if m else ("", "")


class Territory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    departement: str = ""
    communes: list[str] = []
    postcodes: list[str] = []


class Territories(BaseModel):
    """The territories file: a name for each, its communes; ``outside`` for any other commune."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outside: str = "Hors territoire"
    territories: list[Territory] = Field(min_length=1)
    _communes: dict[str, str] = PrivateAttr(default_factory=dict)
    _postcodes: dict[str, str] = PrivateAttr(default_factory=dict)
    _seen: dict[tuple[str, str], str] = PrivateAttr(default_factory=dict)

    def names(self) -> list[str]:
        return [t.name for t in self.territories]

    def model_post_init(self, context: object, /) -> None:
        # Looked up once per row of a 100,000-row ledger: built once, not per call.
        self._communes = {normalize_trait(c): t.name for t in self.territories for c in t.communes}
        self._postcodes = {p: t.name for t in self.territories for p in t.postcodes}

    def of(self, commune: str, postcode: str = "") -> str:
        """The territory of a commune (or of its postcode), :attr:`outside` when none lists it."""
        key = (commune, postcode)
        known = self._seen.get(key)
        if known is None:  # a few hundred communes for 100,000 rows: normalise each once
            found = self._communes.get(normalize_trait(commune or ""))
            known = found or self._postcodes.get(postcode.strip(), self.outside)
            self._seen[key] = known
        return known

    def find(self, name: str) -> str | None:
        """The territory called ``name`` (case and accents ignored), or None."""
        wanted = normalize_trait(name)
        for t in [*self.names(), self.outside]:
            if normalize_trait(t) == wanted:
                return t
        return None


def load_territories(path: Path) -> Territories:
    """Read the territories file; ConfigurationError (in French) when it is missing or wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Territories.model_validate(data)
    except FileNotFoundError as e:
        raise ConfigurationError(
            f"Fichier des territoires introuvable : {path}", code="territories_invalid"
        ) from e
    except (yaml.YAMLError, ValidationError) as e:
        raise ConfigurationError(
            f"Le fichier des territoires {path.name} est invalide : {e}",
            code="territories_invalid",
        ) from e
