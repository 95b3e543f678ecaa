"""The routers of ``xpg serve``: one module per group of endpoints.

Each module has ``router(ctx: Context) -> APIRouter``; :data:`ROUTERS` lists them and
:func:`xpg.serve.app.create_app` includes each. A new group of endpoints is one new module
and one line appended to :data:`ROUTERS` (write endpoints check their own key with
:meth:`Context.require_key`, e.g. ``XPG_API_WRITE_KEY``; every ``/v1`` request has
already passed the read key check and the rate limit before its body is read).
"""

from __future__ import annotations

from xpg.serve.routes import cases, findings, investigations, screening, service
from xpg.serve.routes.context import Context, RouterFactory

__all__ = ["ROUTERS", "Context", "RouterFactory"]

ROUTERS: list[RouterFactory] = [
    service.router,
    findings.router,
    investigations.router,
    cases.router,
    screening.router,
    # a new group of endpoints: its module's router, one line here
]
