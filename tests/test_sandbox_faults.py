"""Each fault knob of the sandbox does what it says (set through POST /__test__/faults)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from sandbox.config import Faults, SandboxConfig
from sandbox.server import RunningSandbox, serve_in_thread
from tests.fixtures.sandbox import (
    CLEAR_STEP1,
    add_usager,
    fill_step1,
    open_step1_form,
    read_alerts,
    save_step1,
)

pytestmark = pytest.mark.browser


def test_error_rate_one_answers_every_page_with_a_500_but_not_static_files(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(error_rate=1.0)
    response = logged_in_page.goto(f"{sandbox.base_url}/usagers")
    assert response is not None
    assert response.status == 500
    expect(logged_in_page.get_by_role("heading", name="Erreur interne du serveur")).to_be_visible()
    assert logged_in_page.request.get(f"{sandbox.base_url}/static/style.css").status == 200
    sandbox.set_faults(error_rate=0.0)
    logged_in_page.goto(f"{sandbox.base_url}/usagers")
    expect(logged_in_page.get_by_role("heading", name="Rechercher un usager")).to_be_visible()


def test_error_rate_draws_are_reproducible_with_a_seed(sandbox: RunningSandbox) -> None:
    def statuses() -> list[int]:
        sandbox.set_faults(error_rate=0.5, seed=7)
        with httpx.Client(base_url=sandbox.base_url) as client:
            return [client.get("/connexion").status_code for _ in range(12)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_latency_delays_pages(sandbox: RunningSandbox) -> None:
    sandbox.set_faults(latency_ms=300, jitter_ms=50)
    with httpx.Client(base_url=sandbox.base_url) as client:
        started = time.monotonic()
        assert client.get("/connexion").status_code == 200
        assert time.monotonic() - started >= 0.25  # a lower bound only: never flaky


def test_slow_answers_exceed_the_client_timeout(page: Page, sandbox: RunningSandbox) -> None:
    sandbox.set_faults(slow_rate=1.0, slow_seconds=2)
    with pytest.raises(PlaywrightError, match="Timeout"):
        page.goto(f"{sandbox.base_url}/connexion", timeout=300)


def test_session_expires_after_the_configured_number_of_requests(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(expire_session_after=3)  # the home page after login was the first
    for path in ("/usagers", "/exports"):
        logged_in_page.goto(f"{sandbox.base_url}{path}")
        expect(logged_in_page.get_by_role("heading", name="Connexion", exact=True)).to_have_count(0)
    logged_in_page.goto(f"{sandbox.base_url}/usagers")
    expect(logged_in_page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(logged_in_page.get_by_role("status")).to_have_text("Votre session a expiré")


def test_info_modal_blocks_the_page_until_closed(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(info_modal_rate=1.0)
    page = logged_in_page
    page.goto(f"{sandbox.base_url}/usagers")
    dialog = page.get_by_role("dialog", name="Message d'information")
    expect(dialog).to_be_visible()
    with pytest.raises(PlaywrightError, match="Timeout"):
        page.get_by_role("button", name="Rechercher").click(timeout=500)
    dialog.get_by_role("button", name="Fermer").click()
    expect(dialog).to_have_count(0)
    page.get_by_label("Nom de naissance", exact=True).fill("Martin")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("dialog")).to_be_visible()  # rate 1.0: on every page
    page.get_by_role("button", name="Fermer").click()
    expect(page.get_by_text("Aucun usager trouvé")).to_be_visible()


def test_ui_variant_v2_renames_labels_and_moves_psychologie_before_vision(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(ui_variant="v2")
    page = logged_in_page
    usager = add_usager(sandbox)
    page.goto(f"{sandbox.base_url}/usagers")
    expect(page.get_by_label("Nom de naissance", exact=True)).to_have_count(0)
    page.get_by_label("Nom de famille à la naissance", exact=True).fill("dupont")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("link", name="Accéder au dossier")).to_have_count(1)
    open_step1_form(page, sandbox, usager, variant="v2")
    legends = page.locator("fieldset.section > legend").all_inner_texts()
    assert legends == [
        "Cognition",
        "Mobilité",
        "Nutrition",
        "Santé psychologique",
        "Vision",
        "Audition",
    ]
    expect(page.get_by_role("button", name="Enregistrer", exact=True)).to_have_count(0)
    fill_step1(page, CLEAR_STEP1, variant="v2")
    save_step1(page, variant="v2")
    assert not any(read_alerts(page, variant="v2").values())


def test_wrong_domain_inverts_that_domain_alert(
    logged_in_page: Page, sandbox: RunningSandbox
) -> None:
    sandbox.set_faults(wrong_domain="vision")
    page = logged_in_page
    usager = add_usager(sandbox)
    open_step1_form(page, sandbox, usager)
    fill_step1(page, CLEAR_STEP1)
    save_step1(page)
    assert read_alerts(page) == {
        "cognition": False,
        "mobilite": False,
        "nutrition": False,
        "vision": True,
        "audition": False,
        "psychologie": False,
    }
    assert sandbox.step1s(usager_id=usager)[0]["alerts"]["vision"] is True


def test_unknown_or_invalid_knobs_are_refused(sandbox: RunningSandbox) -> None:
    with httpx.Client(base_url=sandbox.base_url) as client:
        assert client.post("/__test__/faults", json={"eror_rate": 1}).status_code == 422
        assert client.post("/__test__/faults", json={"error_rate": 2}).status_code == 422
        assert client.post("/__test__/faults", json={"wrong_domain": "moral"}).status_code == 422
        assert client.get("/__test__/faults").json()["error_rate"] == 0.0


def test_knobs_read_sandbox_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_ERROR_RATE", "0.25")
    monkeypatch.setenv("SANDBOX_UI_VARIANT", "v2")
    monkeypatch.setenv("SANDBOX_OTP_MODE", "totp")
    faults = Faults()
    assert (faults.error_rate, faults.ui_variant) == (0.25, "v2")
    assert SandboxConfig().otp_mode == "totp"


def test_test_endpoints_are_absent_unless_enabled(tmp_path: Path) -> None:
    config = SandboxConfig(db_path=tmp_path / "s.db", otp_mode="none", demo_data=False)
    with serve_in_thread(config) as server, httpx.Client(base_url=server.base_url) as client:
        assert client.get("/__test__/counts").status_code == 404
        assert client.post("/__test__/reset").status_code == 404


def test_a_snapshot_restored_gives_back_the_same_records_and_nothing_else(
    sandbox: RunningSandbox,
) -> None:
    # The test fixtures restore check-target's test usager this way instead of touring again.
    first = add_usager(sandbox, birth_name="SNAPSHOT")
    records = sandbox.snapshot()
    sandbox.set_faults(error_rate=1.0)
    add_usager(sandbox, birth_name="APRES")

    sandbox.restore(records)

    assert [u["id"] for u in sandbox.usagers()] == [first]
    assert sandbox.usagers()[0]["birth_name"] == "SNAPSHOT"
    assert sandbox.set_faults()["error_rate"] == 0.0  # the configured faults, as a reset
    # The next usager gets the next number, not one of the restored ones.
    assert add_usager(sandbox, birth_name="SUIVANT") == first + 1
