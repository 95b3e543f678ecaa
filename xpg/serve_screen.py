"""``POST /v1/screen`` of ``xpg serve``: screening an applicant (contract v3: screening);
and ``GET /v1/users/{user_id}/timeline``: a user's cross-product timeline.

The body names the applicant's identifiers (each a value or a list of values) and,
optionally, its ``user_id``; the answer is :meth:`xpg.api.Session.screen`'s verdict with
its reasons and matches. Nothing about the applicant is stored or logged (the access log
writes the path only, and this path holds no id). Bad input is refused with 422 (no
identifier, a malformed phone, an unknown field, more than
:data:`~xpg.queries.screen.MAX_VALUES` values); a body over the service's ``max_body``
with 413.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at run time.
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from xpg.queries.investigate.timeline import TimelineView
from xpg.queries.screen import MAX_LENGTH, MAX_VALUES, Screening

if TYPE_CHECKING:
    from xpg.api import Session

__all__ = ["ScreenRequest", "screen_router"]

_Value = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LENGTH)]
_Values = _Value | Annotated[list[_Value], Field(min_length=1, max_length=MAX_VALUES)] | None


class ScreenRequest(BaseModel):
    """An applicant: any of its identifiers (a value or a list of values), its user id."""

    model_config = ConfigDict(extra="forbid")

    device_id: _Values = None
    phone: _Values = None
    bank_card: _Values = None
    id_number: _Values = None
    email: _Values = None
    ip: _Values = None
    address: _Values = None
    user_id: _Value | None = None
    as_of: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


def screen_router(session: "Session", key: Any, call: Callable[[Callable[[], Any]], Any],
                  errors: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The router of ``POST /v1/screen`` over ``session``; ``key`` is the service's API-key
    dependency (an ``Annotated`` type), ``call`` how it calls into the session (returns
    the result's dict), ``errors`` its documented error responses."""
    router = APIRouter()

    @router.post("/v1/screen", tags=["screening"],
                 responses={200: {"model": Screening}, **errors},
                 summary="Screen an applicant: verdict high / elevated / clear, with reasons")
    def screen_applicant(body: ScreenRequest, _key: key) -> JSONResponse:  # type: ignore[valid-type]
        given = body.model_dump(exclude_none=True, exclude={"as_of"})
        return JSONResponse(call(lambda: session.screen(given, as_of=body.as_of)))

    @router.get("/v1/users/{user_id}/timeline", tags=["investigations"],
                responses={200: {"model": TimelineView}, **errors},
                summary="A user's cross-product timeline: limits, freezes, restores, limit "
                        "cuts, loans, applications and findings, dated, each with its reason")
    def timeline(user_id: str, _key: key,  # type: ignore[valid-type]
                 as_of: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None
                 ) -> JSONResponse:
        return JSONResponse(call(lambda: session.timeline(user_id, as_of=as_of)))

    return router
