"""Exports: the monthly count of STEP 1 / STEP 2 per effecteur that billing is built from, and the
list of every ICOPE evaluation (mode, effecteur, commune, alerts, STEP 2 domains) evaluators use."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sandbox.auth import require_user
from sandbox.db import Store
from sandbox.identity import format_date
from sandbox.runtime import render, runtime

router = APIRouter()

KIND_LABELS = {"step1": "STEP 1", "step2": "STEP 2"}


@router.get("/exports")
async def exports_page(request: Request) -> Response:
    require_user(request)
    rows = runtime(request).store.billing_summary()
    context = {"rows": rows, "kinds": KIND_LABELS, "breadcrumb": [("Exports", None)]}
    return render(request, "exports/index.html", context)


def _csv(filename: str, header: list[str], rows: list[list[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/exports/synthese.csv")
async def summary_csv(request: Request) -> Response:
    require_user(request)
    rows = runtime(request).store.billing_summary()
    return _csv(
        "e-parcours-synthese-mensuelle.csv",
        ["Mois", "Effecteur", "RPPS", "Type", "Nombre"],
        [
            [r["month"], r["effecteur_name"], r["effecteur_rpps"], KIND_LABELS[r["kind"]], r["n"]]
            for r in rows
        ],
    )


@router.get("/exports/actes.csv")
async def detail_csv(request: Request) -> Response:
    require_user(request)
    rt = runtime(request)
    modes = rt.texts()["step1"]["mode_options"]
    rows = rt.store.billing_detail()
    return _csv(
        "e-parcours-actes.csv",
        ["Mois", "Date", "Effecteur", "RPPS", "Type", "Mode", "Dossier", "Évaluation"],
        [
            [
                r["month"],
                format_date(r["eval_date"]),
                r["effecteur_name"],
                r["effecteur_rpps"],
                KIND_LABELS[r["kind"]],
                modes[r["mode"]],
                r["usager_id"],
                r["id"],
            ]
            for r in rows
        ],
    )


_POSTAL = re.compile(r"\b(\d{5})\s+([^,]+?)\s*$")


def _place(address: str | None) -> tuple[str, str]:
    """(postcode, commune) from a French postal address ending "…, 37000 Tours"."""
    m = _POSTAL.search(address or "")
    return (m.group(1), m.group(2)) if m else ("", "")


def evaluations_table(store: Store, texts: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the evaluations CSV (also written by the evaluation benchmark)."""
    modes = texts["step1"]["mode_options"]
    names = texts["step1"]["sections"]  # as on the alerts panel
    rows = []
    for r in store.evaluations_export():
        postcode, commune = _place(r["address"])
        step1 = r["kind"] == "step1"
        alerted = [names[d] for d, on in r["alerts"].items() if on] if step1 else []
        assessed = [] if step1 else [names[d] for d in r["answers"].get("domains", [])]
        rows.append(
            [
                r["id"],
                r["usager_id"],
                KIND_LABELS[r["kind"]],
                format_date(r["eval_date"]),
                modes[r["mode"]] if step1 else "",
                r["effecteur_name"],
                r["effecteur_rpps"],
                postcode,
                commune,
                ", ".join(alerted),
                ", ".join(assessed),
            ]
        )
    return list(texts["exports"]["evaluations_columns"].values()), rows


@router.get("/exports/evaluations.csv")
async def evaluations_csv(request: Request) -> Response:
    require_user(request)
    rt = runtime(request)
    header, rows = evaluations_table(rt.store, rt.texts())
    return _csv("e-parcours-evaluations.csv", header, rows)
