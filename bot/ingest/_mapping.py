"""The export format, as mappings/icope_et_moi.yaml declares it: validated with pydantic."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import MappingError
from bot.models import (
    DOMAINS,
    STEP1_DECIMALS,
    STEP1_INTEGERS,
    HearingTest,
    Identity,
    SelfAssessment,
    Sex,
    Step1Answers,
)

MAPPING_FILE = Path(__file__).resolve().parents[2] / "mappings" / "icope_et_moi.yaml"


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
    **{f"answers.{name}": "int" for name in STEP1_INTEGERS},
    **{f"answers.{name}": "decimal" for name in STEP1_DECIMALS},
    "answers.chair_rise_seconds": "seconds",  # a decimal that may also read "non réalisé"
    "answers.hearing_test": "hearing",
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
    no_domain: tuple[str, ...] = ("Aucune", "Aucun")  # a list column saying "no alert"

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
    """Read and validate the export mapping (once per process and path); MappingError if wrong."""
    try:
        return ExportMapping.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise MappingError(
            f"Le fichier de correspondance de l'export {Path(path).name} est illisible ou "
            f"invalide : {e}"
        ) from e
