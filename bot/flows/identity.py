"""Find the usager's dossier, or create it: "search before create" (RNIV identitovigilance).

1. Search by birth date; when the results run over one page, narrow with at most the first three
   letters of the birth name. Every page of results is read.
2. Compare the strict traits of each candidate, normalised (:func:`bot.models.normalize_trait`):
   birth name, first first-name, birth date, sex, birth place; the INS too when both have one.
3. One exact match: open it. Several: never guess (``identity_ambiguous``). A near match (all
   traits but one agree, or the same INS with other traits): never guess (``identity_near_match``).
4. Nobody on that birth date: the near matches a birth-date search cannot see (same name and first
   name with another birth date, same INS) are looked for by name and by INS; then the birth
   date is searched again right before the creation (someone may have created the usager
   meanwhile), and the usager is created (provisional identity, consent as exported). The tool's own double
   warning is cancelled and sent to review: the bot never confirms a potential double.

The decision must not depend on how many workers run, nor on their timing: the callers hold one
lock per :func:`search_keys` of the identity, so two people whose searches could see each other
(any near match) are never searched for at the same time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.errors import BusinessException, IdentityQuestion
from bot.logs import logger
from bot.models import Identity, SelfAssessment, normalize_trait
from bot.pages.dossier import CONTACT_TRAITS, DossierPage
from bot.pages.duplicate import DuplicateWarningPage
from bot.pages.screen import first_word
from bot.pages.search import ResultsPage, SearchPage, UsagerRow
from bot.pages.session import TargetSession
from bot.pages.usager_form import UsagerFormPage

__all__ = [
    "INFO_LABELS",
    "TRAIT_LABELS",
    "IdentityMatch",
    "IdentityQuestion",
    "InfoDifference",
    "UsagerFound",
    "differing_traits",
    "fields_to_type",
    "find_or_create_usager",
    "first_names_difference",
    "informational_differences",
    "match_candidates",
    "name_difference",
    "name_prefix",
    "search_keys",
]

#: Result pages read at most for one search (10 per page on the sandbox).
MAX_PAGES = 20

TRAIT_LABELS = {
    "birth_name": "nom de naissance",
    "first_name": "premier prénom",
    "birth_date": "date de naissance",
    "sex": "sexe",
    "birth_insee": "lieu de naissance (INSEE)",
    "ins": "matricule INS",
}


def fields_to_type(identity: Identity) -> dict[str, str | date]:
    """The identity fields typed into a new usager's form (label key → value), absent ones left out.

    Never the INS: only a qualified identity may carry it (RNIV), and a self-assessment is never
    checked against an identity document. The sex is chosen apart (a list, not a text).
    """
    values: dict[str, str | date | None] = {
        "birth_name": identity.birth_name,
        "first_names": " ".join(identity.first_names),
        "used_name": identity.used_name,
        "used_first_name": identity.used_first_name,
        "birth_date": identity.birth_date,
        "birth_insee": identity.birth_insee,
        "address": identity.address,
        "phone": identity.phone,
        "email": identity.email,
    }
    return {key: value for key, value in values.items() if value is not None}


def name_prefix(name: str) -> str:
    """At most the first three letters of a name, as the RNIV search advises."""
    return normalize_trait(name)[:3].strip()


def search_keys(identity: Identity) -> list[tuple[str, ...]]:
    """What the search looks at, one key per way two identities can be near matches.

    A near match differs by one strict trait at most, or shares the INS: with the same birth date
    both share the first key; otherwise they agree on every other trait, so on the birth name and
    first name prefixes (the second key); or they share the INS (the third). Locking every key
    serialises any two items whose searches could find each other, whatever their other traits.
    """
    keys = [
        ("naissance", identity.birth_date.isoformat()),
        ("nom", name_prefix(identity.birth_name), name_prefix(identity.first_name)),
    ]
    if identity.ins:
        keys.append(("ins", identity.ins))
    return sorted(keys)


def differing_traits(identity: Identity, row: UsagerRow) -> list[str]:
    """The strict traits (and the INS when both have one) on which a candidate differs."""
    differ = []
    if normalize_trait(row.birth_name) != normalize_trait(identity.birth_name):
        differ.append("birth_name")
    if normalize_trait(first_word(row.first_names)) != normalize_trait(identity.first_name):
        differ.append("first_name")
    if row.birth_date != identity.birth_date:
        differ.append("birth_date")
    if row.sex != identity.sex.value:
        differ.append("sex")
    if row.birth_insee != identity.birth_insee:
        differ.append("birth_insee")
    if identity.ins and row.ins and row.ins != identity.ins:
        differ.append("ins")
    return differ


@dataclass
class IdentityMatch:
    """Candidates sorted: exact matches, and near ones with the traits that differ."""

    exact: list[UsagerRow] = field(default_factory=list)
    near: list[tuple[UsagerRow, list[str]]] = field(default_factory=list)
    identity: Identity | None = None  # the one searched for: says how a name differs


def match_candidates(identity: Identity, rows: list[UsagerRow]) -> IdentityMatch:
    """Sort search results into exact and near matches (others are other people)."""
    match = IdentityMatch(identity=identity)
    seen: set[str | None] = set()
    for row in rows:
        key = row.link or f"{row.birth_name}|{row.first_names}|{row.birth_date}"
        if key in seen:
            continue
        seen.add(key)
        differ = differing_traits(identity, row)
        same_ins = bool(identity.ins and row.ins == identity.ins)
        if not differ:
            match.exact.append(row)
        elif len(differ) == 1 or same_ins:
            match.near.append((row, differ))
    return match


# --- how two names differ, in a reviewer's words ------------------------------------------------


def _plain_letters(text: str) -> str:
    """Upper case without accents, spaces and hyphens kept as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _one_edit(a: str, b: str) -> str | None:
    """The kind of a single-letter difference between two words, or None when it is more."""
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return "une lettre différente"
        i = diff[0] if len(diff) == 2 and diff[1] == diff[0] + 1 else None
        if i is not None and a[i] == b[i + 1] and a[i + 1] == b[i]:
            return "deux lettres voisines inversées"
        return None
    short, long_ = sorted((a, b), key=len)
    if len(long_) - len(short) != 1:
        return None
    for i in range(len(long_)):
        if long_[:i] + long_[i + 1 :] == short:
            return "une lettre en plus ou en moins"
    return None


def name_difference(ours: str, theirs: str) -> str:
    """How a name in the dossier differs from the export's, without repeating either name.

    From the smallest difference to the largest: accents only, a hyphen or a space, one letter,
    two neighbouring letters swapped, one part of a compound name only; else the spelling.
    """
    if not theirs.strip():
        return "absent du dossier"
    if not ours.strip():
        return "absent de l'export"
    a, b = normalize_trait(ours), normalize_trait(theirs)
    if a == b:  # equal for the RNIV: said for completeness (used names are compared so too)
        if ours.upper() == theirs.upper():
            return "majuscules et minuscules seulement"
        if _plain_letters(ours) == _plain_letters(theirs):
            return "accents seulement"
        return "tiret, apostrophe ou espace seulement"
    if a.replace(" ", "") == b.replace(" ", ""):
        return "espace ou tiret en plus ou en moins"
    kind = _one_edit(a, b)
    if kind is not None:
        return kind
    words_a, words_b = set(a.split()), set(b.split())
    if words_a < words_b or words_b < words_a:
        return "une partie seulement du nom composé"
    return "orthographe différente"


def _first_names(text: str | Sequence[str]) -> list[str]:
    parts = re.split(r"[\s,;]+", text.strip()) if isinstance(text, str) else list(text)
    return [normalize_trait(p) for p in parts if p.strip()]


def first_names_difference(ours: Sequence[str], theirs: str) -> str:
    """How the dossier's first names differ from the export's, the first one being compared."""
    a, b = _first_names(ours), _first_names(theirs)
    if not b:
        return "aucun prénom dans le dossier"
    if not a:
        return "aucun prénom dans l'export"
    if sorted(a) == sorted(b):
        return "mêmes prénoms dans un autre ordre"
    if a[1:] and b == a[1 : len(b) + 1]:
        return "premier prénom absent du dossier (les suivants concordent)"
    if b[1:] and a == b[1 : len(a) + 1]:
        return "premier prénom absent de l'export (les suivants concordent)"
    if a[0] in b:
        return "ordre des prénoms différent (le premier de l'export est plus loin dans le dossier)"
    if b[0] in a:
        return "ordre des prénoms différent (le premier du dossier est plus loin dans l'export)"
    return name_difference(a[0], b[0])


def _shown(trait: str, row: UsagerRow, identity: Identity | None) -> str:
    """A differing trait as the reviewer needs it: values, except names (the kind of change)."""
    if trait == "birth_name":
        why = (
            name_difference(identity.birth_name, row.birth_name)
            if identity
            else "orthographe différente"
        )
        return f"{TRAIT_LABELS[trait]} ({why})"
    if trait == "first_name":
        why = (
            first_names_difference(identity.first_names, row.first_names)
            if identity
            else "orthographe différente"
        )
        return f"{TRAIT_LABELS[trait]} ({why})"
    value = {
        "birth_date": row.birth_date.strftime("%d/%m/%Y") if row.birth_date else "?",
        "sex": row.sex,
        "birth_insee": row.birth_insee,
        "ins": "autre matricule",
    }[trait]
    return f"{TRAIT_LABELS[trait]} ({value})"


# --- used names and contact details: told, never acted on ----------------------------------------

INFO_LABELS = {
    "used_name": "nom utilisé",
    "used_first_name": "prénom utilisé",
    "phone": "téléphone",
    "email": "courriel",
    "address": "adresse postale",
}


@dataclass(frozen=True)
class InfoDifference:
    """A used name or contact detail the export gives otherwise than the dossier shows."""

    trait: str  # a key of INFO_LABELS
    export: str
    dossier: str | None  # None: the dossier shows none
    kind: str  # how it differs, in a reviewer's words

    @property
    def label(self) -> str:
        return INFO_LABELS[self.trait]

    def as_result(self) -> dict[str, str | None]:
        return {
            "trait": self.trait,
            "label": self.label,
            "export": self.export,
            "dossier": self.dossier,
            "kind": self.kind,
        }


def _phone_digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return "0" + digits[2:] if digits.startswith("33") and len(digits) == 11 else digits


def _same(trait: str, ours: str, theirs: str) -> bool:
    if trait == "phone":
        return _phone_digits(ours) == _phone_digits(theirs)
    if trait == "email":
        return ours.strip().casefold() == theirs.strip().casefold()
    # names and addresses: accents, case, hyphens, commas and spacing are not a change
    return normalize_trait(ours.replace(",", " ")) == normalize_trait(theirs.replace(",", " "))


def informational_differences(
    identity: Identity, shown: Mapping[str, str | None]
) -> list[InfoDifference]:
    """The used traits and contact details the export gives otherwise than the dossier.

    The identity rules let these change (a marriage, a move) without making another person, so
    they never stop the entry: a person is told. A trait the export leaves empty says nothing,
    and one the dossier screen does not show is not compared.
    """
    out = []
    for trait in CONTACT_TRAITS:
        ours = getattr(identity, trait)
        if not ours or trait not in shown:
            continue
        theirs = shown[trait]
        if theirs is not None and _same(trait, ours, theirs):
            continue
        if theirs is None:
            kind = "absent du dossier"
        elif trait in ("used_name", "used_first_name"):
            kind = name_difference(ours, theirs)
        else:
            kind = "différent"
        out.append(InfoDifference(trait, ours, theirs, kind))
    return out


def _dossier(row: UsagerRow) -> str:
    return f"dossier {row.dossier_id}" if row.dossier_id else "dossier sans lien"


def candidates_details(match: IdentityMatch) -> str:
    """One line per candidate: its dossier id and how it differs (no full identity)."""
    lines = [f"{_dossier(row)} : mêmes traits stricts" for row in match.exact]
    lines += [
        f"{_dossier(row)} : diffère par "
        + ", ".join(_shown(t, row, match.identity) for t in differ)
        for row, differ in match.near
    ]
    return "\n".join(lines)


def candidate_ids(match: IdentityMatch) -> list[str | None]:
    return [r.dossier_id for r in match.exact] + [r.dossier_id for r, _ in match.near]


@dataclass
class UsagerFound:
    """Where the search ended: the dossier (opened or created), or the filled form (dry run)."""

    dossier: DossierPage | None
    created: bool
    form: UsagerFormPage | None = None
    # used traits and contact details that differ from the dossier found (never updated)
    info: list[InfoDifference] = field(default_factory=list)


def _all_rows(results: ResultsPage) -> list[UsagerRow]:
    rows = results.rows()
    pages = 1
    while results.has_next_page():
        pages += 1
        if pages > MAX_PAGES:
            raise BusinessException(
                "Identité à vérifier : trop d'usagers correspondent à la recherche pour les "
                "comparer tous.",
                code="identity_ambiguous",
            )
        results = results.next_page()
        rows += results.rows()
    return rows


def _search(results: ResultsPage, **criteria: Any) -> tuple[ResultsPage, list[UsagerRow]]:
    results = results.search(**criteria)
    return results, _all_rows(results)


def _by_birth_date(
    search: ResultsPage | SearchPage, identity: Identity
) -> tuple[ResultsPage, list[UsagerRow]]:
    """Everyone born that day (narrowed by the birth name's first letters past one page)."""
    results = search.search(birth_date=identity.birth_date)
    if results.has_next_page():
        results = results.search(
            birth_date=identity.birth_date, birth_name=name_prefix(identity.birth_name)
        )
    return results, _all_rows(results)


def _candidates(
    search: ResultsPage | SearchPage, identity: Identity
) -> tuple[ResultsPage, list[UsagerRow]]:
    """Every usager the searches show for this identity: by birth date (narrowed by the birth
    name's first letters when it runs over a page); when nobody shares it, by name and by INS."""
    results, rows = _by_birth_date(search, identity)
    match = match_candidates(identity, rows)
    if not match.exact and not match.near:
        results, more = _search(
            results,
            birth_name=name_prefix(identity.birth_name),
            first_name=name_prefix(identity.first_name),
        )
        rows += more
        if identity.ins:
            results, more = _search(results, ins=identity.ins)
            rows += more
    return results, rows


def find_or_create_usager(
    session: TargetSession,
    assessment: SelfAssessment,
    *,
    dry_run: bool = False,
) -> UsagerFound:
    """Open the usager's dossier after a strict search; create it when nobody matches."""
    identity = assessment.identity
    results, rows = _candidates(session.open_search(), identity)
    match = match_candidates(identity, rows)
    if not match.exact and not match.near and not dry_run:
        # Right before creating, search the birth date again: the lock covers this machine's
        # workers, not a person or another machine creating the usager meanwhile. One search
        # only (a creation costs it each time); the tool's double warning stays the last guard.
        results, rows = _by_birth_date(results, identity)
        match = match_candidates(identity, rows)
    _decide(match, assessment.reference)
    if match.exact:
        row = match.exact[0]
        logger.debug("{} : usager trouvé ({})", assessment.reference, _dossier(row))
        dossier = results.open(row)
        info = informational_differences(identity, dossier.contact_traits())
        if info:
            logger.info(
                "{} : le dossier diffère de l'export par {} (pour information, non modifié)",
                assessment.reference,
                ", ".join(d.label for d in info),
            )
        return UsagerFound(dossier, created=False, info=info)
    form = results.open_create_form()
    form.fill(fields_to_type(identity), sex=identity.sex, consent=assessment.consent_sharing)
    if dry_run:
        return UsagerFound(None, created=False, form=form)
    outcome = form.submit()
    if isinstance(outcome, DuplicateWarningPage):
        doubles = IdentityMatch(identity=identity)
        for r in outcome.candidates():
            differ = differing_traits(identity, r)
            if differ:
                doubles.near.append((r, differ))
            else:
                doubles.exact.append(r)
        outcome.cancel()
        raise _near_match_error(doubles, "l'e-parcours signale un doublon potentiel")
    if isinstance(outcome, UsagerFormPage):
        raise BusinessException(
            "L'e-parcours refuse l'identité de l'usager : elle doit être corrigée.",
            code="invalid_input",
            details="\n".join(outcome.errors()),
        )
    logger.debug("{} : usager créé ({})", assessment.reference, f"dossier {outcome.dossier_id}")
    return UsagerFound(outcome, created=True)


def _near_match_error(match: IdentityMatch, why: str) -> IdentityQuestion:
    return IdentityQuestion(
        f"Identité à vérifier : {why} (un usager très proche existe déjà).",
        code="identity_near_match",
        details=candidates_details(match),
        candidates=candidate_ids(match),
    )


def _decide(match: IdentityMatch, reference: str) -> None:
    """Raise the identity question when the candidates do not allow a safe choice."""
    if len(match.exact) > 1:
        raise IdentityQuestion(
            f"Identité à vérifier : {len(match.exact)} dossiers ont exactement les mêmes traits "
            "stricts dans l'e-parcours.",
            code="identity_ambiguous",
            details=candidates_details(match),
            candidates=candidate_ids(match),
        )
    if match.exact:
        if match.near:
            logger.warning(
                "{} : usager trouvé, mais {} dossier(s) proche(s) existent aussi",
                reference,
                len(match.near),
            )
        return
    if match.near:
        raise _near_match_error(match, "aucun dossier identique, mais un dossier proche")
