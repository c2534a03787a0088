"""Evaluations: the type chooser, the STEP 1 form, the read-only page and its alerts panel."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from sandbox.auth import read_form, require_user
from sandbox.forms import STEP1_LAYOUT, parse_step1, step1_form_values
from sandbox.identity import format_date
from sandbox.labels import section_order
from sandbox.routes.usagers import usager_or_404
from sandbox.rules import Step1, compute_alerts
from sandbox.runtime import render, runtime

router = APIRouter()


def _crumbs(request: Request, usager_id: int, last: str) -> list[tuple[str, str | None]]:
    t = runtime(request).texts()
    return [
        ("Usagers", "/usagers"),
        (t["dossier"]["heading"], f"/usagers/{usager_id}?onglet=evaluations"),
        (last, None),
    ]


@router.get("/usagers/{usager_id}/evaluations/nouvelle")
async def chooser(request: Request, usager_id: int) -> Response:
    require_user(request)
    usager = usager_or_404(request, usager_id)
    heading = runtime(request).texts()["chooser"]["heading"]
    context = {"usager": usager, "breadcrumb": _crumbs(request, usager_id, heading)}
    return render(request, "evaluations/chooser.html", context)


@router.get("/usagers/{usager_id}/evaluations/nouvelle/step1")
async def new_step1(request: Request, usager_id: int) -> Response:
    require_user(request)
    return _step1_page(request, usager_id, {"assessed_on": format_date(date.today())}, {})


@router.get("/usagers/{usager_id}/evaluations/nouvelle/{kind}")
async def unavailable(request: Request, usager_id: int, kind: str) -> Response:
    """AGGIR, multidimensional evaluation…: listed in the chooser, not built in the sandbox."""
    require_user(request)
    usager_or_404(request, usager_id)
    heading = runtime(request).texts()["errors"]["unavailable"]
    context = {"breadcrumb": _crumbs(request, usager_id, heading), "usager_id": usager_id}
    return render(request, "evaluations/unavailable.html", context, status=404)


def _step1_page(
    request: Request, usager_id: int, values: dict[str, Any], errors: dict[str, str]
) -> Response:
    rt = runtime(request)
    defaults = {"mode": "hetero", "hearing_test": "aucun"}
    if rt.faults.current.extra_field == "default":
        defaults["place"] = EXTRA_FIELD_CHOICES[0]  # pre-selected: saved unless changed
    context = {
        "usager": usager_or_404(request, usager_id),
        "values": defaults | values,
        "extra_field": (EXTRA_FIELD_LABEL, EXTRA_FIELD_CHOICES),
        "confirm_text": SAVE_CONFIRM_TEXT,
        "errors": errors,
        "layout": STEP1_LAYOUT,
        "professionals": rt.config.professionals,
        "breadcrumb": _crumbs(request, usager_id, rt.texts()["step1"]["heading"]),
    }
    return render(request, "evaluations/step1_form.html", context, status=422 if errors else 200)


@router.post("/usagers/{usager_id}/evaluations/nouvelle/step1")
async def save_step1(request: Request, usager_id: int) -> Response:
    user = require_user(request)
    rt = runtime(request)
    usager = usager_or_404(request, usager_id)
    form: Mapping[str, Any] = await read_form(request)
    if rt.faults.current.ui_variant == "chair_not_done":
        # The box says the test was not done; unticked, the duration is required.
        form = {**form, "chair_rise_done": "non" if form.get("chair_rise_not_done") else "oui"}
    birth = date.fromisoformat(str(usager["birth_date"]))
    header, step1, errors = parse_step1(form, rt.config.professionals, birth)
    if rt.faults.current.extra_field == "required" and not str(form.get("place", "")).strip():
        errors = {**errors, "place": EXTRA_FIELD_ERROR}
        header = step1 = None
    if header is None or step1 is None:
        values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
        return _step1_page(request, usager_id, values, errors)
    alerts = compute_alerts(step1, rt.config.thresholds, inverted=rt.faults.current.wrong_domain)
    evaluation_id = rt.store.insert_evaluation(
        usager_id=usager_id,
        kind="step1",
        eval_date=header.assessed_on.isoformat(),
        mode=header.mode,
        effecteur_rpps=header.effecteur.rpps,
        effecteur_name=header.effecteur.name,
        # The added field is kept with the answers (the view shows it like the tool would).
        answers=step1.model_dump()
        | ({"place": place} if (place := _text_of(form, "place")) else {}),
        alerts=alerts,
        created_by=user.username,
    )
    rt.store.update_session(request.state.session["id"], flash=rt.texts()["evaluation"]["saved"])
    return RedirectResponse(f"/evaluations/{evaluation_id}", status_code=303)


#: The field a vendor update adds to the form (sandbox ``extra_field`` knob).
EXTRA_FIELD_LABEL = "Lieu de l'évaluation"
EXTRA_FIELD_CHOICES = ("Cabinet médical", "Domicile", "Téléconsultation")
EXTRA_FIELD_ERROR = "Le lieu de l'évaluation est obligatoire."
#: The confirmation asked after "save" (sandbox ``save_confirm`` knob).
SAVE_CONFIRM_TEXT = "Confirmez-vous l'enregistrement définitif de cette évaluation ?"


def _text_of(form: Any, name: str) -> str:
    return str(form.get(name, "") or "").strip()


def _evaluation_or_404(request: Request, evaluation_id: int) -> dict[str, Any]:
    evaluation = runtime(request).store.evaluation(evaluation_id)
    if evaluation is None:
        raise HTTPException(404)
    return evaluation


@router.get("/evaluations/{evaluation_id}")
async def evaluation_page(request: Request, evaluation_id: int) -> Response:
    require_user(request)
    rt = runtime(request)
    evaluation = _evaluation_or_404(request, evaluation_id)
    usager_id = int(evaluation["usager_id"])
    answers = dict(evaluation["answers"])
    place = answers.pop("place", None)
    context = {
        "evaluation": evaluation,
        "usager": usager_or_404(request, usager_id),
        "values": step1_form_values(Step1(**answers)),
        "place": (EXTRA_FIELD_LABEL, place) if place else None,
        "layout": STEP1_LAYOUT,
        "breadcrumb": _crumbs(request, usager_id, rt.texts()["evaluation"]["heading"]),
    }
    return render(request, "evaluations/view.html", context)


@router.get("/evaluations/{evaluation_id}/alertes")
async def alerts_fragment(request: Request, evaluation_id: int) -> Response:
    """The alerts panel, served after the configured delay (the page shows a spinner meanwhile)."""
    require_user(request)
    rt = runtime(request)
    evaluation = _evaluation_or_404(request, evaluation_id)
    delay = rt.faults.current.alerts_delay_ms
    if delay:
        await asyncio.sleep(delay / 1000)  # the real tool computes alerts asynchronously
    template = rt.templates.get_template("evaluations/_alerts.html")
    variant = rt.faults.current.ui_variant
    html = template.render(
        t=rt.texts(),
        alerts=evaluation["alerts"],
        sections=section_order(variant),
        colour_only=rt.faults.current.alerts_colour_only,
        icon=variant == "alerts_icon",
    )
    return HTMLResponse(html)
