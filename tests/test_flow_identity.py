"""Search before create: strict traits, homonyms, near matches, doubles, pagination (RNIV)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from bot.config import Settings
from bot.errors import BusinessException
from bot.flows.double_entry import double_entry
from bot.flows.identity import differing_traits, match_candidates, name_prefix
from bot.models import SelfAssessment
from bot.pages.search import ResultsPage, UsagerRow
from bot.pages.session import TargetSession
from bot.workqueue import WorkItem
from sandbox.server import RunningSandbox
from tests.fixtures.identity import OURS, ours_in_sandbox
from tests.fixtures.queue import make_assessment

Leased = Callable[[SelfAssessment], WorkItem]


def row(**changes: object) -> UsagerRow:
    values: dict[str, object] = {
        "birth_name": "TESTICOPE",
        "used_name": "",
        "first_names": "Jeanne Marie",
        "birth_date": date(1940, 5, 12),
        "sex": "F",
        "birth_insee": "75115",
        "ins": None,
        "link": "http://e-parcours/usagers/7",
    }
    return UsagerRow(**(values | changes))  # type: ignore[arg-type]


# --- the comparison itself (pure) --------------------------------------------------------------


@pytest.mark.parametrize(
    "shown",
    [
        {"birth_name": "Testicope"},
        {"birth_name": "TÉSTICOPE"},
        {"first_names": "jeanne"},
        {"first_names": "JEANNE, MARIE"},
    ],
)
def test_strict_traits_compare_after_rniv_normalisation(shown: dict[str, str]) -> None:
    assert differing_traits(OURS, row(**shown)) == []


def test_used_name_and_other_first_names_are_not_strict_traits() -> None:
    assert differing_traits(OURS, row(used_name="MARTIN", first_names="Jeanne Louise")) == []


def test_one_differing_trait_is_a_near_match() -> None:
    match = match_candidates(OURS, [row(sex="M")])

    assert match.exact == []
    assert [(r.dossier_id, d) for r, d in match.near] == [("7", ["sex"])]


def test_homonym_with_two_differing_traits_is_another_person() -> None:
    other = row(birth_date=date(1942, 1, 1), birth_insee="37261")

    match = match_candidates(OURS, [other])

    assert (match.exact, match.near) == ([], [])


def test_same_ins_with_other_traits_is_never_another_person() -> None:
    ours = OURS.model_copy(update={"ins": "240057511599982"})
    other = row(birth_date=date(1941, 1, 1), birth_insee="37261", ins="240057511599982")

    assert match_candidates(ours, [other]).near


def test_different_ins_breaks_an_otherwise_exact_match() -> None:
    ours = OURS.model_copy(update={"ins": "240057511599982"})

    match = match_candidates(ours, [row(ins="140057511599973")])

    assert [d for _, d in match.near] == [["ins"]]


def test_search_prefix_is_at_most_three_letters_normalised() -> None:
    assert name_prefix("Éloïse") == "ELO"
    assert name_prefix("Le Guen") == "LE"


# --- against the sandbox ---------------------------------------------------------------------


@pytest.mark.browser
def test_homonyms_born_another_day_elsewhere_do_not_stop_the_creation(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    ours_in_sandbox(sandbox, birth_date="1942-01-01", birth_insee="37261")
    ours_in_sandbox(sandbox, first_names=["Jean"], sex="M")  # same birth date, another person

    result = double_entry(
        target_session, leased(make_assessment(reference="AE-HOMONYM")), flow_settings
    )

    assert result.created_usager
    assert sandbox.counts()["usagers"] == 3


@pytest.mark.browser
def test_near_match_goes_to_review_with_the_candidate_listed(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    near = ours_in_sandbox(sandbox, sex="M")
    item = leased(make_assessment(reference="AE-NEAR"))

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, item, flow_settings)

    assert raised.value.code == "identity_near_match"
    assert raised.value.message.startswith("Identité à vérifier")
    assert raised.value.details == f"dossier {near} : diffère par sexe (M)"
    assert "TESTICOPE" not in raised.value.details
    assert item.result["identity_candidates"] == [str(near)]
    assert sandbox.counts()["usagers"] == 1


@pytest.mark.browser
def test_near_match_on_the_birth_date_is_found_by_the_name_search(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    near = ours_in_sandbox(sandbox, birth_date="1940-05-21")  # day and month typed the other way

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-DATE")), flow_settings)

    assert raised.value.code == "identity_near_match"
    assert raised.value.details == f"dossier {near} : diffère par date de naissance (21/05/1940)"


@pytest.mark.browser
def test_several_exact_matches_are_ambiguous_and_never_guessed(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    first = ours_in_sandbox(sandbox)
    second = ours_in_sandbox(sandbox, used_name="MARTIN")

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-TWICE")), flow_settings)

    assert raised.value.code == "identity_ambiguous"
    assert raised.value.details.splitlines() == [
        f"dossier {first} : mêmes traits stricts",
        f"dossier {second} : mêmes traits stricts",
    ]
    assert sandbox.counts()["step1"] == 0


@pytest.mark.browser
def test_too_many_results_are_narrowed_by_name_and_every_page_is_read(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    for i in range(3):
        ours_in_sandbox(sandbox, birth_name="MARTIN", first_names=[f"Paul{'e' * i}"])
    for i in range(12):  # same birth date, same first three letters, sorted before ours
        ours_in_sandbox(sandbox, birth_name=f"TESA{chr(65 + i)}")
    ours = ours_in_sandbox(sandbox)  # the 13th "TES…": on the second page

    result = double_entry(
        target_session, leased(make_assessment(reference="AE-PAGES")), flow_settings
    )

    assert result.dossier_id == str(ours)
    assert not result.created_usager


class BlindResults(ResultsPage):
    """A search that misses the existing usager (an accent-sensitive real tool, say)."""

    def rows(self) -> list[UsagerRow]:
        return []


@pytest.mark.browser
def test_the_tools_double_warning_is_cancelled_and_sent_to_review(
    target_session: TargetSession, flow_settings: Settings, leased: Leased, sandbox: RunningSandbox
) -> None:
    existing = ours_in_sandbox(sandbox)
    target_session.screen_types[ResultsPage] = BlindResults

    with pytest.raises(BusinessException) as raised:
        double_entry(target_session, leased(make_assessment(reference="AE-DOUBLE")), flow_settings)

    assert raised.value.code == "identity_near_match"
    assert "doublon potentiel" in raised.value.message
    assert raised.value.details == f"dossier {existing} : mêmes traits stricts"
    assert sandbox.counts()["usagers"] == 1
