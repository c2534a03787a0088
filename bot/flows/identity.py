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

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.errors import BusinessException, IdentityQuestion
from bot.logs import logger
from bot.models import Identity, SelfAssessment, normalize_trait
from bot.pages.dossier import DossierPage
from bot.pages.duplicate import DuplicateWarningPage
from bot.pages.screen import first_word
from bot.pages.search import ResultsPage, SearchPage, UsagerRow
from bot.pages.session import TargetSession
from bot.pages.usager_form import UsagerFormPage

__all__ = [
    "TRAIT_LABELS",
    "IdentityMatch",
    "IdentityQuestion",
    "UsagerFound",
    "differing_traits",
    "fields_to_type",
    "find_or_create_usager",
    "match_candidates",
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


def match_candidates(identity: Identity, rows: list[UsagerRow]) -> IdentityMatch:
    """Sort search results into exact and near matches (others are other people)."""
    match = IdentityMatch()
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


def _shown(trait: str, row: UsagerRow) -> str:
    """A differing trait as the reviewer needs it: values, except names (spelling differs)."""
    if trait in ("birth_name", "first_name"):
        return f"{TRAIT_LABELS[trait]} (orthographe différente)"
    value = {
        "birth_date": row.birth_date.strftime("%d/%m/%Y") if row.birth_date else "?",
        "sex": row.sex,
        "birth_insee": row.birth_insee,
        "ins": "autre matricule",
    }[trait]
    return f"{TRAIT_LABELS[trait]} ({value})"


def _dossier(row: UsagerRow) -> str:
    return f"dossier {row.dossier_id}" if row.dossier_id else "dossier sans lien"


def candidates_details(match: IdentityMatch) -> str:
    """One line per candidate: its dossier id and how it differs (no full identity)."""
    lines = [f"{_dossier(row)} : mêmes traits stricts" for row in match.exact]
    lines += [
        f"{_dossier(row)} : diffère par " + ", ".join(_shown(t, row) for t in differ)
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
        return UsagerFound(results.open(row), created=False)
    form = results.open_create_form()
    form.fill(fields_to_type(identity), sex=identity.sex, consent=assessment.consent_sharing)
    if dry_run:
        return UsagerFound(None, created=False, form=form)
    outcome = form.submit()
    if isinstance(outcome, DuplicateWarningPage):
        doubles = IdentityMatch()
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
