"""Test-only control routes (mounted only when ``config.test_endpoints`` is on).

JSON in, JSON out, no session and no CSRF: they stand for the tester's hand on the server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from sandbox.forms import parse_usager, usager_record
from sandbox.runtime import runtime

router = APIRouter(prefix="/__test__")


class ClockMove(BaseModel):
    advance_seconds: float


@router.get("/faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return runtime(request).faults.current.model_dump()


@router.post("/faults")
async def set_faults(request: Request) -> JSONResponse:
    """Change some fault knobs: ``{"error_rate": 1.0}``; answers all knobs as they now are."""
    changes = await request.json()
    try:
        faults = runtime(request).faults.update(changes)
    except (ValueError, ValidationError) as e:
        return JSONResponse({"error": str(e)}, status_code=422)
    return JSONResponse(faults.model_dump())


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    """Empty the data, put the configured faults back, unlock accounts, reset the clock."""
    rt = runtime(request)
    rt.store.reset()
    rt.faults.set(rt.config.faults)
    rt.clock.offset = timedelta()
    return {"reset": True, **rt.store.counts()}


@router.get("/snapshot")
async def snapshot(request: Request) -> dict[str, Any]:
    """Every usager, evaluation and task as they are (see ``/restore``)."""
    return runtime(request).store.snapshot()


@router.post("/restore")
async def restore(request: Request) -> dict[str, Any]:
    """Reset (as ``/reset``), then put back the records of a ``/snapshot``: a state that costs a
    browser tour to make is made once and restored for each test."""
    rt = runtime(request)
    rt.store.restore(await request.json())
    rt.faults.set(rt.config.faults)
    rt.clock.offset = timedelta()
    return {"restored": True, **rt.store.counts()}


@router.post("/clock")
async def move_clock(request: Request, move: ClockMove) -> dict[str, Any]:
    """Move the sandbox's clock forward (session idle time, code validity, lock-out)."""
    rt = runtime(request)
    rt.clock.offset += timedelta(seconds=move.advance_seconds)
    return {"offset_seconds": rt.clock.offset.total_seconds()}


@router.get("/counts")
async def counts(request: Request) -> dict[str, int]:
    return runtime(request).store.counts()


@router.get("/step1")
async def step1s(
    request: Request, usager_id: int | None = None, date: str | None = None, mode: str | None = None
) -> list[dict[str, Any]]:
    """Saved STEP 1s (``date`` as aaaa-mm-jj), with answers and alerts as stored."""
    rows = runtime(request).store.step1s(usager_id=usager_id, eval_date=date, mode=mode)
    return [
        {
            "id": r["id"],
            "usager_id": r["usager_id"],
            "date": r["eval_date"],
            "mode": r["mode"],
            "effecteur_rpps": r["effecteur_rpps"],
            "effecteur_name": r["effecteur_name"],
            "answers": r["answers"],
            "alerts": r["alerts"],
            "created_by": r["created_by"],
        }
        for r in rows
    ]


@router.get("/usagers")
async def usagers(request: Request) -> list[dict[str, Any]]:
    """Every usager, in creation order: strict traits, INS and who created it."""
    keep = ("id", "birth_name", "first_names", "sex", "birth_date", "birth_insee", "ins")
    return [
        {k: r[k] for k in keep} | {"created_by": r["created_by"]}
        for r in runtime(request).store.usagers()
    ]


@router.post("/usagers")
async def add_usager(request: Request) -> JSONResponse:
    """Create a usager directly, without the double check (``first_names`` as a list or a string).

    Same fields as the form; ``consent`` defaults to true and ``birth_date`` may be jj/mm/aaaa
    or aaaa-mm-jj.
    """
    payload = await request.json()
    if isinstance(payload.get("first_names"), list):
        payload["first_names"] = " ".join(payload["first_names"])
    birth = str(payload.get("birth_date") or "")
    if len(birth) == 10 and birth[4] == "-":
        payload["birth_date"] = f"{birth[8:]}/{birth[5:7]}/{birth[:4]}"
    payload.setdefault("consent", True)
    values, errors = parse_usager({k: v for k, v in payload.items() if v not in (None, False)})
    if errors:
        return JSONResponse({"errors": errors}, status_code=422)
    usager_id = runtime(request).store.insert_usager(usager_record(values, created_by="test"))
    return JSONResponse({"id": usager_id}, status_code=201)
