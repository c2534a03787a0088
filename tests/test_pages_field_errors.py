"""A field error the e-parcours shows is read with the label of its field (issue 12)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.models import Sex
from bot.pages.session import TargetSession
from bot.pages.usager_form import UsagerFormPage

pytestmark = pytest.mark.browser


def test_a_refused_name_is_reported_with_the_label_of_its_field(
    target_session: TargetSession,
) -> None:
    form = target_session.open_search().open_create_form()
    form.fill(
        {
            "birth_name": "DUPONT2",  # the tool accepts letters, spaces, hyphens, apostrophes only
            "first_names": "Marie",
            "birth_date": date(1950, 1, 1),
            "birth_insee": "75056",
        },
        sex=Sex.F,
        consent=True,
    )

    outcome = form.submit()

    assert isinstance(outcome, UsagerFormPage)
    errors = outcome.errors()
    assert any(e.startswith("Nom de naissance : Seules les lettres") for e in errors), errors
