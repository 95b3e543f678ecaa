"""Error answers of ``xpg serve``: one JSON body for every refused or failed request."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

__all__ = ["ERRORS", "ErrorBody", "Refused", "error_response", "ok"]


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every refused or failed request answers with this body."""

    error: ErrorDetail


class Refused(Exception):
    """A request refused with ``status`` (answered as :class:`ErrorBody`)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}},
                        status_code=status, headers=headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (401, "No API key"), (403, "Wrong API key"), (404, "Unknown id"),
        (409, "No detection has stored findings for the date: run xpg detect"),
        (413, "Request body too large"),
        (422, "Malformed parameters, or a run date the service does not hold"),
        (429, "Rate limit exceeded (also: too many wrong keys from this client)"),
        (500, "Internal error"), (503, "Backend unavailable, or the file system refused"))
}


def ok(model: Any) -> dict[int | str, dict[str, Any]]:
    """The responses of a data endpoint: ``model`` on 200, and every error."""
    return {200: {"model": model}, **ERRORS}
