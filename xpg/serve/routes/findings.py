"""``/v1/findings``: pages of the findings document, and one finding by id, assembled
from the findings encoded once (:class:`~xpg.serve.data.EncodedFindings`)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time,
# and they name aliases local to router().
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from xpg.errors import NotFoundError
from xpg.queries.findings import SEVERITIES, Finding
from xpg.queries.rules import FINDING_TYPES
from xpg.serve.errors import ok

if TYPE_CHECKING:
    from xpg.serve.routes.context import Context

__all__ = ["FindingsPage", "router"]


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class FindingsPage(BaseModel):
    """The contract's findings document, filtered and paged (``page``)."""

    as_of: str
    findings: list[Finding]
    summary: dict[str, Any]
    page: Page


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def router(ctx: "Context") -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["findings"])
    lim = ctx.limits
    AsOf = Annotated[dt.date, Query(
        description="Run date (ISO 8601); the service answers for the dates it holds only",
        json_schema_extra=ctx.date_schema())]
    Id = Annotated[str, Path(min_length=1, max_length=lim.max_id_length)]

    @r.get("/findings", responses=ok(FindingsPage),
           summary="Findings as of a date, in the data contract's format (filtered, paged)")
    def findings(
        as_of: AsOf = ctx.data.as_of,
        finding_type: Annotated[Literal[FINDING_TYPES] | None,  # type: ignore[valid-type]
                                Query(alias="type", description="Only this finding type")
                                ] = None,
        severity: Annotated[Literal[SEVERITIES] | None,  # type: ignore[valid-type]
                            Query(description="Only this severity or above")] = None,
        user: Annotated[str | None, Query(min_length=1, max_length=lim.max_id_length,
                                          description="Only findings naming this user")
                        ] = None,
        limit: Annotated[int, Query(ge=1, le=lim.max_page)] = min(100, lim.max_page),
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Response:
        ctx.data.day(as_of)
        return _json(ctx.data.findings().page(finding_type=finding_type, severity=severity,
                                              user=user, offset=offset, limit=limit))

    @r.get("/findings/{finding_id}", responses=ok(Finding), summary="One finding by id")
    def finding(finding_id: Id, as_of: AsOf = ctx.data.as_of) -> Response:
        ctx.data.day(as_of)
        body = ctx.data.findings().one(finding_id)
        if body is None:
            raise NotFoundError(f"unknown finding {finding_id!r}")
        return _json(body)

    return r
