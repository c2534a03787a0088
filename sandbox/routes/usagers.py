"""Usagers: search, creation (with the potential-double check) and the dossier."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from sandbox.auth import read_form, require_user
from sandbox.forms import parse_usager, usager_record
from sandbox.identity import normalize, parse_date
from sandbox.runtime import render, runtime

router = APIRouter()

_CRUMB_USAGERS = ("Usagers", "/usagers")


@router.get("/usagers")
async def search(
    request: Request,
    nom: str = "",
    prenom: str = "",
    date_naissance: str = "",
    ins: str = "",
    page: int = 1,
) -> Response:
    require_user(request)
    rt = runtime(request)
    criteria = {"nom": nom, "prenom": prenom, "date_naissance": date_naissance, "ins": ins}
    context: dict[str, object] = {
        "criteria": criteria,
        "breadcrumb": [("Usagers", None)],
        "searched": "recherche" in request.query_params or any(criteria.values()),
    }
    errors: dict[str, str] = {}
    birth = parse_date(date_naissance) if date_naissance.strip() else None
    if date_naissance.strip() and birth is None:
        errors["date_naissance"] = "Date invalide : saisissez-la au format jj/mm/aaaa"
    if context["searched"] and not any(v.strip() for v in criteria.values()):
        errors["form"] = "Saisissez au moins un critère de recherche"
    context["errors"] = errors
    if context["searched"] and not errors:
        size = rt.config.page_size
        page = max(page, 1)
        rows, total = rt.store.search_usagers(
            name_prefix=normalize(nom) or None,
            first_name_prefix=normalize(prenom) or None,
            birth_date=birth.isoformat() if birth else None,
            ins=ins.replace(" ", "").upper() or None,
            limit=size,
            offset=(page - 1) * size,
        )
        query = {k: v for k, v in criteria.items() if v} | {"recherche": "1"}
        pages = max(1, -(-total // size))
        context |= {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "next_url": f"/usagers?{urlencode(query | {'page': page + 1})}"
            if page < pages
            else None,
            "previous_url": f"/usagers?{urlencode(query | {'page': page - 1})}"
            if page > 1
            else None,
        }
    return render(request, "usagers/search.html", context)


def _form_page(request: Request, values: dict[str, str], errors: dict[str, str]) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "breadcrumb": [_CRUMB_USAGERS, (runtime(request).texts()["usager_form"]["heading"], None)],
    }
    return render(request, "usagers/form.html", context, status=422 if errors else 200)


@router.get("/usagers/nouveau")
async def new_usager(request: Request) -> Response:
    require_user(request)
    return _form_page(request, {"identity_status": "provisoire", "sex": ""}, {})


@router.post("/usagers/nouveau")
async def create_usager(request: Request) -> Response:
    user = require_user(request)
    rt = runtime(request)
    form = await read_form(request)
    values, errors = parse_usager(form)
    if errors:
        return _form_page(request, values, errors)
    record = usager_record(values, created_by=user.username)
    doubles = rt.store.usagers_with_strict_key(record["strict_key"])
    if doubles and form.get("confirm_doublon") != "1":
        context = {
            "values": values,
            "doubles": doubles,
            "breadcrumb": [_CRUMB_USAGERS, (rt.texts()["duplicate"]["heading"], None)],
        }
        return render(request, "usagers/duplicate.html", context)
    usager_id = rt.store.insert_usager(record)
    rt.store.update_session(request.state.session["id"], flash=rt.texts()["dossier"]["created"])
    return RedirectResponse(f"/usagers/{usager_id}", status_code=303)


def usager_or_404(request: Request, usager_id: int) -> dict[str, object]:
    usager = runtime(request).store.usager(usager_id)
    if usager is None:
        raise HTTPException(404)
    return usager


@router.get("/usagers/{usager_id}")
async def dossier(request: Request, usager_id: int, onglet: str = "synthese") -> Response:
    require_user(request)
    rt = runtime(request)
    usager = usager_or_404(request, usager_id)
    if onglet not in ("synthese", "evaluations", "documents"):
        onglet = "synthese"
    context = {
        "usager": usager,
        "tab": onglet,
        "evaluations": rt.store.evaluations_of(usager_id),
        "tasks": rt.store.tasks_of(usager_id),
        "professionals": {p.rpps: p for p in rt.config.professionals},
        "breadcrumb": [_CRUMB_USAGERS, (rt.texts()["dossier"]["heading"], None)],
    }
    return render(request, "usagers/dossier.html", context)
