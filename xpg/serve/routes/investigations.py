"""``/v1/users``, ``/v1/rings``, ``/v1/path``, ``/v1/lenders``: the investigations, computed
per request from the shared, read-only session (no lock)."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time,
# and they name aliases local to router().
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, StringConstraints

from xpg.errors import NotFoundError
from xpg.queries.investigate import LenderView, PathView, RingView, UserView
from xpg.serve.data import dumps
from xpg.serve.errors import ErrorDetail, ok
from xpg.serve.limits import batch_cost

if TYPE_CHECKING:
    from xpg.serve.routes.context import Context

__all__ = ["UsersBody", "router"]


class UserError(BaseModel):
    """Why one id of a batch has no answer."""

    id: str
    error: ErrorDetail


class UsersBody(BaseModel):
    """The users found, in the order asked, and an error for each id not answered."""

    users: list[UserView]
    errors: list[UserError]


def _json_integer(value: Any) -> Any:
    """A JSON integer as JSON Schema reads it (``2`` or ``2.0``; never ``true`` or ``"2"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


def _json(value: Any) -> Response:
    return Response(dumps(value), media_type="application/json")


def router(ctx: "Context") -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["investigations"])
    lim = ctx.limits
    data = ctx.data
    AsOf = Annotated[dt.date, Query(
        description="Run date (ISO 8601); the service answers for the dates it holds only",
        json_schema_extra=ctx.date_schema())]
    Id = Annotated[str, Path(min_length=1, max_length=lim.max_id_length)]
    QueryId = Annotated[str, Query(min_length=1, max_length=lim.max_id_length)]
    BodyId = Annotated[str, StringConstraints(min_length=1, max_length=lim.max_id_length)]

    @r.get("/users/{user_id}", responses=ok(UserView),
           summary="A user: accounts, links, lenders, findings, exposure, neighbours")
    def user_view(
        user_id: Id,
        hops: Annotated[int, Query(ge=0, le=lim.max_hops)] = min(1, lim.max_hops),
        as_of: AsOf = data.as_of,
    ) -> Response:
        return _json(data.call(lambda s, d: s.user(user_id, hops=hops, as_of=d),
                               as_of).to_dict())

    @r.post("/users", responses=ok(UsersBody),
            summary="Several users at once (read-only; the ids travel in the body). Each id "
                    "is answered on its own: an unknown id is listed under errors. The "
                    "batch counts against the rate limit by its size (ids x (1 + hops)).")
    def users_view(
        request: Request,
        ids: Annotated[list[BodyId], Body(embed=True, min_length=1, max_length=lim.max_ids)],
        hops: Annotated[int, Body(embed=True, ge=0, le=lim.max_hops),
                        BeforeValidator(_json_integer)] = 0,
        as_of: AsOf = data.as_of,
    ) -> Response:
        data.day(as_of)
        ctx.charge(request, batch_cost(len(ids), hops, lim) - 1)  # one unit already paid
        users: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for u in ids:
            try:
                view = data.call(lambda s, d, u=u: s.user(u, hops=hops, as_of=d), as_of)
            except NotFoundError as e:
                errors.append({"id": u, "error": {"status": 404, "code": "not_found",
                                                  "message": str(e)}})
                continue
            users.append(view.to_dict())
        return _json({"users": users, "errors": errors})

    @r.get("/rings/{ring_id}", responses=ok(RingView),
           summary="A ring: members, shared links, lenders, exposure, freeze state")
    def ring_view(ring_id: Id, as_of: AsOf = data.as_of) -> Response:
        return Response(data.ring(ring_id, as_of), media_type="application/json")

    @r.get("/path", responses=ok(PathView),
           summary="The shortest chain of shared devices/identifiers between two users")
    def path_view(
        a: QueryId,
        b: QueryId,
        via_lenders: bool = False,
        include_hubs: bool = False,
        max_hops: Annotated[int, Query(ge=1, le=lim.max_path_hops)] = min(6, lim.max_path_hops),
        as_of: AsOf = data.as_of,
    ) -> Response:
        return _json(data.call(lambda s, d: s.path(
            a, b, via_lenders=via_lenders, include_hubs=include_hubs, max_hops=max_hops,
            as_of=d), as_of).to_dict())

    @r.get("/lenders/{lender_id}", responses=ok(LenderView),
           summary="A lender: flagged users and rings borrowing there, and how much")
    def lender_view(lender_id: Id, as_of: AsOf = data.as_of) -> Response:
        return _json(data.call(lambda s, d: s.lender(lender_id, as_of=d), as_of).to_dict())

    return r
