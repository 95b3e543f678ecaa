"""``POST /v1/screen`` of ``xpg serve``: screening an applicant (contract v3: screening);
and ``GET /v1/users/{user_id}/timeline``: a user's cross-product timeline (one router of
:data:`xpg.serve.routes.ROUTERS`).

The body names the applicant's identifiers (each a value or a list of values) and,
optionally, its ``user_id``; the answer is :meth:`xpg.api.Session.screen`'s verdict with
its reasons and matches. Nothing about the applicant is stored or logged (the access log
writes the path only, and this path holds no id). Bad input is refused with 422 (no
identifier, a malformed phone, an unknown field, more than
:data:`~xpg.queries.screen.MAX_VALUES` values); a body over the service's ``max_body``
with 413.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at run time.
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from xpg.queries.investigate.timeline import TimelineView
from xpg.queries.screen import MAX_LENGTH, MAX_VALUES, Screening
from xpg.serve.data import dumps
from xpg.serve.errors import ok

if TYPE_CHECKING:
    from xpg.serve.routes.context import Context

__all__ = ["ScreenRequest", "router"]

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
    as_of: dt.date | None = None


def _json(value: object) -> Response:
    return _bytes(dumps(value))


def _bytes(content: bytes) -> Response:
    return Response(content, media_type="application/json")


def router(ctx: "Context") -> APIRouter:
    """The screening and timeline routes over the service's session (no lock: read only)."""
    r = APIRouter(prefix="/v1")
    data = ctx.data
    AsOf = Annotated[dt.date, Query(
        description="Run date (ISO 8601); the service answers for the dates it holds only",
        json_schema_extra=ctx.date_schema())]
    Id = Annotated[str, Path(min_length=1, max_length=ctx.limits.max_id_length)]

    class ScreenBody(ScreenRequest):
        as_of: Annotated[dt.date | None, Field(
            description="Run date (ISO 8601); the service answers for the dates it holds only",
            json_schema_extra=ctx.date_schema())] = None

    # over tables in memory (or memory-mapped) a screening is a few binary searches and
    # slices (under a millisecond): answered on the event loop, as a hand-off to a thread
    # costs about as much; over files or a database, in the thread pool
    try:
        inline = bool(getattr(ctx.data.session.source, "in_memory", False))
    except Exception:  # a failing backend answers its error per request
        inline = False

    def answer(body: ScreenRequest) -> bytes:
        given = body.model_dump(exclude_none=True, exclude={"as_of"})
        return dumps(data.call(lambda s, d: s.screen(given, as_of=d), body.as_of).to_dict())

    @r.post("/screen", tags=["screening"], responses=ok(Screening),
            summary="Screen an applicant: verdict high / elevated / clear, with reasons",
            description="Each value is normalized as the loader does; a value that normalizes "
                        "to nothing, is masked (6222********1234) or in scientific notation, "
                        "and a phone libphonenumber finds impossible, is refused with 422.")
    async def screen_applicant(body: ScreenBody) -> Response:
        if inline:
            return _bytes(answer(body))
        return _bytes(await run_in_threadpool(answer, body))

    def fast(raw: bytes) -> bytes | None:
        """The answer to a valid body (JSON, as FastAPI reads it, validated by the same
        model); None for any other (this route then answers it: its 422s, 409, 503)."""
        try:
            return answer(ScreenBody.model_validate(json.loads(raw)))
        except Exception:
            return None

    if inline:  # answered on the event loop: the gate may answer it before the router
        ctx.fast[f"{r.prefix}/screen"] = fast

    @r.get("/users/{user_id}/timeline", tags=["investigations"], responses=ok(TimelineView),
           summary="A user's cross-product timeline: limits, freezes, restores, limit cuts, "
                   "loans, applications and findings, dated, each with its reason")
    def timeline(user_id: Id, as_of: AsOf = data.as_of) -> Response:
        return _json(data.call(lambda s, d: s.timeline(user_id, as_of=d), as_of).to_dict())

    return r
