"""One HTTP function per route of ``toolweaver.api.routes``, registered on a blueprint."""

from __future__ import annotations

import azure.functions as func

from toolweaver.api.http import ApiRequest, ApiResponse
from toolweaver.api.routes import ROUTES, Route, dispatch
from toolweaver.execution import budget
from toolweaver.functions.runtime import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


def to_api_request(req: func.HttpRequest) -> ApiRequest:
    return ApiRequest(
        method=req.method,
        path=req.url,
        body=req.get_body() or b"",
        headers={k.lower(): v for k, v in req.headers.items()},
        query=dict(req.params),
        route_params=dict(req.route_params),
    )


def to_func_response(response: ApiResponse) -> func.HttpResponse:
    mimetype, charset = split_charset(response.content_type)
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=dict(response.headers),
        mimetype=mimetype,
        charset=charset,
    )


def split_charset(content_type: str) -> tuple[str, str]:
    """``text/plain; version=1.0.0; charset=utf-8`` as (``text/plain; version=1.0.0``, ``utf-8``).

    The worker writes ``<mimetype>; charset=<charset>`` for text types, so a charset left in the
    mimetype would be sent twice.
    """
    kept, charset = [], "utf-8"
    for part in content_type.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip().strip('"')
        elif part.strip():
            kept.append(part.strip())
    return "; ".join(kept), charset


def _register(route: Route) -> None:
    def handle(req: func.HttpRequest) -> func.HttpResponse:
        # An answer must leave before Azure's front end gives up (230 s) or functionTimeout.
        with budget.deadline_in(budget.HTTP_SECONDS):
            return to_func_response(dispatch(route, to_api_request(req), services()))

    handle.__name__ = handle.__qualname__ = route.function_name
    level = func.AuthLevel.ANONYMOUS if route.anonymous else func.AuthLevel.FUNCTION
    decorated = bp.route(route=route.path, methods=list(route.methods), auth_level=level)(handle)
    bp.function_name(route.function_name)(decorated)


for _route in ROUTES:
    _register(_route)
