"""The contract mappings/target*.yaml: every text in it resolves on the sandbox's real screens.

For each UI variant, a walk through every screen (login, second factor, search, creation, double,
dossier, chooser, STEP 1, evaluation, exports, modal, errors) checks each entry the way the
header of the mapping file says the bot finds it. The walk must use every entry of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from functools import reduce
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from pydantic import SecretStr

from bot.models import Identity, Step1Answers
from sandbox.config import Account, SandboxConfig
from sandbox.server import RunningSandbox, serve_in_thread
from tests.fixtures.sandbox import (
    CLEAR_STEP1,
    DEMO_PASSWORD,
    MAPPINGS,
    Inbox,
    add_usager,
    fill_step1,
    open_step1_form,
    sandbox_test_config,
    target_texts,
)

pytestmark = pytest.mark.browser

VARIANTS = ("standard", "v2")


@pytest.fixture(scope="module")
def contract_server(
    smtp_inbox: Inbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """A sandbox with the e-mail second factor and an account whose mails are refused."""
    broken = Account(
        username="panne",
        password=SecretStr("panne-2025"),
        email="refus@sandbox.e-parcours.invalid",
        display_name="Compte sans messagerie",
    )
    accounts = [*SandboxConfig().accounts, broken]
    db = tmp_path_factory.mktemp("contract") / "e-parcours.db"
    config = sandbox_test_config(db, otp_mode="email", smtp_port=smtp_inbox.port, accounts=accounts)
    with serve_in_thread(config) as server:
        yield server


def leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for key, value in tree.items():
        path = (*prefix, key)
        found |= leaves(value, path) if isinstance(value, dict) else {path}
    return found


class Contract:
    """Resolves mapping entries on the page, remembering which were checked."""

    def __init__(self, page: Page, variant: str) -> None:
        self.page = page
        self.variant = variant
        self.tree = target_texts(variant)
        self.checked: set[tuple[str, ...]] = set()

    def text(self, *path: str) -> str:
        self.checked.add(path)
        return reduce(lambda node, key: node[key], path, self.tree)

    def keys(self, *path: str) -> list[str]:
        return list(reduce(lambda node, key: node[key], path, self.tree))

    def heading(self, screen: str) -> None:
        name = self.text(screen, "heading")
        expect(self.page.get_by_role("heading", name=name, exact=True, level=1)).to_be_visible()

    def group(
        self,
        screen: str,
        group: str,
        scope: Locator | Page | None = None,
        only: tuple[str, ...] | None = None,
    ) -> None:
        """Entries of one group of a screen (all, or ``only`` these) resolve as the header says."""
        root = scope or self.page
        for key in only or self.keys(screen, group):
            name = self.text(screen, group, key)
            match group:
                case "labels":
                    expect(root.get_by_label(name, exact=True)).to_have_count(1)
                case "radiogroups":
                    radios = root.get_by_role("radiogroup", name=name, exact=True)
                    expect(radios).to_have_count(1)
                    for answer in ("yes", "no"):
                        label = self.text(screen, "options", answer)
                        expect(radios.get_by_label(label, exact=True)).to_have_count(1)
                case "checkboxes":
                    expect(root.get_by_role("checkbox", name=name, exact=True)).to_have_count(1)
                case "buttons":
                    expect(root.get_by_role("button", name=name, exact=True)).to_have_count(1)
                case "links":
                    expect(root.get_by_role("link", name=name, exact=True).first).to_be_visible()
                case "tabs":
                    expect(root.get_by_role("tab", name=name, exact=True)).to_have_count(1)
                case "sections":
                    expect(root.get_by_role("group", name=name, exact=True)).to_have_count(1)
                case "columns":
                    header = root.get_by_role("columnheader", name=name, exact=True)
                    expect(header.first).to_be_visible()
                case "terms" | "other_terms":
                    term = root.locator("dt").filter(has_text=re.compile(f"^{re.escape(name)}$"))
                    expect(term).to_have_count(1)
                case _:
                    raise AssertionError(f"no rule to check group {group!r}")

    def options(self, screen: str, select_key: str, options_key: str | None = None) -> None:
        """The option texts of a select, found inside the select labelled by ``select_key``."""
        select = self.page.get_by_label(self.text(screen, "labels", select_key), exact=True)
        for key in self.keys(screen, "options", options_key or select_key):
            name = self.text(screen, "options", options_key or select_key, key)
            expect(
                select.locator("option").filter(has_text=re.compile(f"^{re.escape(name)}$"))
            ).to_have_count(1)

    def shows(self, *path: str) -> None:
        expect(self.page.get_by_text(self.text(*path)).first).to_be_visible()


def login_with_password(
    page: Page, c: Contract, base_url: str, username: str, password: str
) -> None:
    page.goto(f"{base_url}/connexion")
    page.get_by_label(c.text("login", "labels", "username"), exact=True).fill(username)
    page.get_by_label(c.text("login", "labels", "password"), exact=True).fill(password)
    page.get_by_role("button", name=c.text("login", "buttons", "submit"), exact=True).click()


def enter_code(page: Page, c: Contract, code: str) -> None:
    page.get_by_label(c.text("otp", "labels", "code"), exact=True).fill(code)
    page.get_by_role("button", name=c.text("otp", "buttons", "submit"), exact=True).click()


def check_code_email(c: Contract, mail: EmailMessage) -> None:
    """The otp_email section (not a screen) recognises the code e-mail the sandbox sends."""
    subject = c.text("otp_email", "subject_contains")
    sender = c.text("otp_email", "sender_contains")
    assert subject.lower() in str(mail["Subject"]).lower()
    assert sender.lower() in str(mail["From"]).lower()
    match = re.search(c.text("otp_email", "code_pattern"), mail.get_content())
    assert match
    assert re.fullmatch(r"\d{6}", match.group(1))


def check_login_and_second_factor(
    page: Page, c: Contract, server: RunningSandbox, inbox: Inbox
) -> None:
    url = server.base_url
    page.goto(f"{url}/connexion")
    c.heading("login")
    c.group("login", "labels")
    c.group("login", "buttons")
    login_with_password(page, c, url, "demo", "pas-le-bon")
    c.shows("login", "texts", "bad_credentials")

    login_with_password(page, c, url, "panne", "panne-2025")
    c.heading("otp_send_failed")

    login_with_password(page, c, url, "demo", DEMO_PASSWORD)
    c.heading("otp")
    c.group("otp", "labels")
    c.group("otp", "buttons")
    c.shows("otp", "texts", "attempt_reference")
    check_code_email(c, inbox.messages[-1])
    wrong = f"{(int(inbox.code()) + 1) % 1_000_000:06d}"
    for _ in range(2):
        enter_code(page, c, wrong)
        c.shows("otp", "texts", "wrong_code")
    enter_code(page, c, wrong)
    c.heading("login")
    c.shows("otp", "texts", "too_many")

    login_with_password(page, c, url, "demo", DEMO_PASSWORD)
    server.advance_clock(11 * 60)
    enter_code(page, c, inbox.code())
    c.shows("otp", "texts", "expired")

    login_with_password(page, c, url, "demo", DEMO_PASSWORD)
    enter_code(page, c, inbox.code())
    c.heading("home")
    menu = page.get_by_role("navigation", name=c.text("common", "navigation"), exact=True)
    c.group("common", "links", scope=menu)
    c.group("common", "buttons")


def check_search_and_creation(page: Page, c: Contract, server: RunningSandbox) -> str:
    """Search, creation and the double page; returns the new dossier's URL."""
    for n in range(11):
        add_usager(server, birth_name="BERNARD", first_names=[f"Prénom{'abcdefghijk'[n]}"])
    menu = page.get_by_role("navigation", name=c.text("common", "navigation"), exact=True)
    menu.get_by_role("link", name=c.text("common", "links", "usagers"), exact=True).click()
    c.heading("search")
    c.group("search", "labels")
    c.group("search", "buttons")
    page.get_by_label(c.text("search", "labels", "first_name"), exact=True).fill("zzz")
    page.get_by_role("button", name=c.text("search", "buttons", "search"), exact=True).click()
    c.shows("search", "texts", "no_result")
    page.get_by_label(c.text("search", "labels", "first_name"), exact=True).fill("")
    page.get_by_label(c.text("search", "labels", "birth_name"), exact=True).fill("bern")
    page.get_by_role("button", name=c.text("search", "buttons", "search"), exact=True).click()
    c.group("search", "columns")
    page.get_by_role("link", name=c.text("search", "links", "next_page"), exact=True).click()
    c.group("search", "links", only=("create", "open", "previous_page"))

    page.get_by_role("link", name=c.text("search", "links", "create"), exact=True).click()
    c.heading("usager_form")
    c.group("usager_form", "labels")
    c.group("usager_form", "checkboxes")
    c.group("usager_form", "buttons")
    c.options("usager_form", "sex")
    c.options("usager_form", "identity_status")
    labels = c.tree["usager_form"]["labels"]
    for key, value in {
        "birth_name": "Bernard",
        "first_names": "Prénoma",
        "birth_date": "01/02/1940",
        "birth_insee": "37261",
    }.items():
        page.get_by_label(labels[key], exact=True).fill(value)
    page.get_by_label(labels["sex"], exact=True).select_option(
        label=c.tree["usager_form"]["options"]["sex"]["F"]
    )
    page.get_by_role(
        "checkbox", name=c.tree["usager_form"]["checkboxes"]["consent"], exact=True
    ).check()
    page.get_by_role("button", name=c.text("usager_form", "buttons", "submit"), exact=True).click()

    c.heading("duplicate")
    c.group("duplicate", "buttons")
    c.group("duplicate", "links")
    page.get_by_role("button", name=c.text("duplicate", "buttons", "confirm"), exact=True).click()
    c.heading("dossier")
    c.shows("dossier", "texts", "created")
    c.group("dossier", "tabs")
    return page.url


def check_step1_and_evaluation(
    page: Page, c: Contract, server: RunningSandbox, dossier_url: str
) -> None:
    # long enough for the spinner to be seen even on a loaded machine
    server.set_faults(alerts_delay_ms=3000)
    page.get_by_role("tab", name=c.text("dossier", "tabs", "evaluations"), exact=True).click()
    c.shows("dossier", "texts", "no_evaluation")  # a new usager's dossier has no evaluation yet
    page.get_by_role("link", name=c.text("dossier", "links", "new_evaluation"), exact=True).click()
    c.heading("chooser")
    c.group("chooser", "links")
    page.get_by_role("link", name=c.text("chooser", "links", "step1"), exact=True).click()
    c.heading("step1")
    hearing = page.get_by_label(c.text("step1", "labels", "hearing_test"), exact=True)
    hearing.select_option("chuchotement")  # reveals the whisper test's yes/no question
    for group in ("sections", "labels", "radiogroups", "buttons"):
        c.group("step1", group)
    c.options("step1", "mode")
    c.options("step1", "hearing_test")
    page.get_by_role("button", name=c.text("step1", "buttons", "save"), exact=True).click()
    c.shows("step1", "texts", "errors_summary")

    answers = CLEAR_STEP1 | {"vision_problem": True, "chair_rise_seconds": None}
    fill_step1(page, answers, mode="hetero", variant=c.variant)
    page.get_by_role("button", name=c.text("step1", "buttons", "save"), exact=True).click()
    c.heading("evaluation")
    c.shows("evaluation", "texts", "saved")
    c.shows("evaluation", "alerts", "loading")
    region = page.get_by_role("region", name=c.text("evaluation", "alerts", "region"), exact=True)
    expect(region).to_be_visible()
    for key in c.keys("evaluation", "alerts", "domains"):
        item = region.get_by_role("listitem").filter(
            has_text=c.text("evaluation", "alerts", "domains", key)
        )
        expect(item).to_have_count(1)
    for key in ("alert", "no_alert"):
        status = c.text("evaluation", "alerts", "status", key)
        expect(region.get_by_text(status, exact=True).first).to_be_visible()
    expect(region.get_by_text(c.text("evaluation", "alerts", "step2"))).to_have_count(2)
    c.group("evaluation", "terms")
    c.group("evaluation", "other_terms")
    for key in c.keys("evaluation", "values"):
        value = c.text("evaluation", "values", key)
        expect(
            page.locator("dd").filter(has_text=re.compile(f"^{re.escape(value)}$")).first
        ).to_be_visible()

    page.goto(f"{dossier_url}?onglet=evaluations")
    c.group("dossier", "columns")
    c.group("dossier", "links")
    c.shows("dossier", "texts", "step2_task")
    c.shows("dossier", "texts", "type_step1")


def check_evaluations_file(page: Page, c: Contract, server: RunningSandbox) -> None:
    """The evaluations CSV (not a screen): its header and its Type cells, as mapped."""
    store = server.app.state.runtime.store
    step1 = store.evaluations_export()[0]  # the walk saved a STEP 1 before
    store.insert_evaluation(
        usager_id=step1["usager_id"],
        kind="step2",
        eval_date=step1["eval_date"],
        mode="hetero",
        effecteur_rpps=step1["effecteur_rpps"],
        effecteur_name=step1["effecteur_name"],
        answers={"domains": ["vision"]},
        alerts={},
        created_by="test",
    )
    page.goto(f"{server.base_url}/exports")
    with page.expect_download() as info:
        page.get_by_role("link", name=c.text("exports", "links", "evaluations_csv")).click()
    text = info.value.path().read_text(encoding="utf-8-sig")
    rows = [line.split(";") for line in text.splitlines()]
    columns = [c.text("exports", "file_columns", k) for k in c.keys("exports", "file_columns")]
    assert rows[0] == columns
    kinds = {row[columns.index(c.text("exports", "file_columns", "type"))] for row in rows[1:]}
    assert kinds == {c.text("exports", "file_values", k) for k in ("step1", "step2")}


def check_other_screens(page: Page, c: Contract, server: RunningSandbox) -> None:
    url = server.base_url
    check_evaluations_file(page, c, server)
    page.goto(f"{url}/exports")
    c.heading("exports")
    c.group("exports", "links")

    server.set_faults(info_modal_rate=1.0)
    page.goto(f"{url}/accueil")
    dialog = page.get_by_role("dialog", name=c.text("info_modal", "dialog"), exact=True)
    expect(dialog).to_be_visible()
    c.group("info_modal", "buttons", scope=dialog)
    server.set_faults(info_modal_rate=0.0)

    page.goto(f"{url}/cette-page-n-existe-pas")
    expect(
        page.get_by_role("heading", name=c.text("errors", "not_found"), exact=True)
    ).to_be_visible()
    server.set_faults(error_rate=1.0)
    page.goto(f"{url}/accueil")
    expect(page.get_by_role("heading", name=c.text("errors", "server"), exact=True)).to_be_visible()
    server.set_faults(error_rate=0.0)
    page.goto(f"{url}/usagers/nouveau")
    page.locator("main input[name=csrf_token]").evaluate("input => { input.value = 'falsifié'; }")
    page.get_by_role("button", name=c.tree["usager_form"]["buttons"]["submit"], exact=True).click()
    expect(
        page.get_by_role("heading", name=c.text("errors", "forbidden"), exact=True)
    ).to_be_visible()

    server.advance_clock(21 * 60)
    page.goto(f"{url}/usagers")
    c.heading("login")
    c.shows("common", "texts", "session_expired")
    c.shows("login", "texts", "session_expired")

    for _ in range(5):
        login_with_password(page, c, url, "demo", "pas-le-bon")
    c.shows("login", "texts", "locked")


def check_name_rules(c: Contract) -> None:
    """The mapping's name rule accepts and refuses the names the target's own form does."""
    from sandbox.forms import parse_usager

    if "rules" not in c.tree:  # the mapping keeps the default rule (bot.pages.mapping)
        return
    pattern = re.compile(c.text("rules", "names", "pattern"))
    assert c.text("rules", "names", "allowed")
    for name in ("DUPONT", "Le Gall", "D'Artagnan", "Marie-Anne", "N'Diaye", "DUP0NT", "A_B", "X."):
        form = {"birth_name": name, "first_names": "Marie", "sex": "F", "birth_date": "01/02/1940"}
        _, errors = parse_usager(form)
        assert bool(pattern.match(name)) == ("birth_name" not in errors), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_mapped_text_resolves_on_the_sandbox(
    variant: str, page: Page, contract_server: RunningSandbox, smtp_inbox: Inbox
) -> None:
    contract_server.reset()
    contract_server.set_faults(ui_variant=variant)
    smtp_inbox.messages.clear()
    c = Contract(page, variant)
    check_login_and_second_factor(page, c, contract_server, smtp_inbox)
    dossier_url = check_search_and_creation(page, c, contract_server)
    check_step1_and_evaluation(page, c, contract_server, dossier_url)
    check_other_screens(page, c, contract_server)
    check_name_rules(c)
    # ``waived`` lists mapping paths the preflight may leave unchecked (tests/test_check_target.py),
    # not texts of a screen.
    tree = {k: v for k, v in target_texts(variant).items() if k != "waived"}
    unchecked = leaves(tree) - c.checked
    assert not unchecked, f"entries of the mapping never checked: {sorted(unchecked)}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_mapping_covers_every_identity_and_step1_field(variant: str) -> None:
    t = target_texts(variant)
    assert set(Identity.model_fields) <= set(t["usager_form"]["labels"])
    step1 = t["step1"]["labels"] | t["step1"]["radiogroups"]
    assert set(Step1Answers.model_fields) <= set(step1)
    assert set(t["evaluation"]["terms"]) == set(step1)
    assert set(t["step1"]["options"]["hearing_test"]) == {
        "aucun",
        "chuchotement",
        "hearwho",
        "audiometrie",
    }
    assert set(t["usager_form"]["options"]["sex"]) == {"F", "M", "I"}


# --- mappings/variants/: one edit each, for a shape a tool update gave the screens ------------

VARIANT_FILES = sorted((MAPPINGS / "variants").glob("*.yaml"))
#: The role of each kind of question control (step1.controls.<question>.kind, radio by default).
QUESTION_ROLES = {"radio": "radiogroup", "select": "combobox"}


def _at(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def check_questions(page: Page, c: Contract) -> None:
    """Every yes/no question by the role its kind gives it, and its answers' texts inside it
    (a radio group's radios, a drop-down's options; a box has none)."""
    controls = c.tree["step1"].get("controls", {})
    for key in c.keys("step1", "radiogroups"):
        name = c.text("step1", "radiogroups", key)
        control = controls.get(key, {})
        kind = control.get("kind", "radio")
        if key in controls:
            c.checked.add(("step1", "controls", key, "kind"))
        role = QUESTION_ROLES.get(kind, "checkbox")
        question = page.get_by_role(role, name=name, exact=True)  # type: ignore[arg-type]
        expect(question).to_have_count(1)
        if role == "checkbox":
            continue
        child = "radio" if kind == "radio" else "option"
        for answer in ("yes", "no"):
            text = control.get(answer) or c.text("step1", "options", answer)
            if answer in control:
                c.checked.add(("step1", "controls", key, answer))
            found = question.get_by_role(child, name=text, exact=True, include_hidden=True)  # type: ignore[arg-type]
            expect(found).to_have_count(1)


@pytest.mark.parametrize("path", VARIANT_FILES, ids=lambda p: p.stem)
def test_each_variant_mapping_differs_only_where_its_screen_changed_and_resolves_there(
    path: Any, page: Page, sandbox: RunningSandbox, login: Any
) -> None:
    variant = path.stem
    c = Contract(page, variant)
    standard = target_texts("standard")
    changed = {p for p in leaves(c.tree) | leaves(standard) if _at(c.tree, p) != _at(standard, p)}
    assert changed, f"{path.name} is the standard mapping"
    sandbox.set_faults(ui_variant=variant)
    login(page)
    open_step1_form(page, sandbox, add_usager(sandbox), variant)
    hearing = page.get_by_label(c.text("step1", "labels", "hearing_test"), exact=True)
    hearing.select_option("chuchotement")  # reveals the whisper test's question
    check_questions(page, c)
    c.group("step1", "buttons")
    c.group("step1", "labels")
    if any(p[:2] == ("evaluation", "alerts") for p in changed):
        page.get_by_label(c.text("step1", "labels", "hearing_test"), exact=True).select_option(
            "aucun"
        )
        fill_step1(page, CLEAR_STEP1 | {"vision_problem": True}, variant=variant)
        page.get_by_role("button", name=c.text("step1", "buttons", "save"), exact=True).click()
        region = page.get_by_role(
            "region", name=c.text("evaluation", "alerts", "region"), exact=True
        )
        for key in ("alert", "no_alert"):
            status = c.text("evaluation", "alerts", "status", key)
            expect(region.get_by_text(status, exact=True).first).to_be_visible()
        expect(region.get_by_text(c.text("evaluation", "alerts", "step2"))).to_have_count(1)
    unchecked = {p for p in changed if p[0] != "waived"} - c.checked
    assert not unchecked, f"edits of {path.name} never checked on its screen: {sorted(unchecked)}"
