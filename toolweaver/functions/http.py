"""One HTTP function per route of ``toolweaver.api.routes``, registered on a blueprint."""

from __future__ import annotations

import azure.functions as func

from toolweaver.api.http import ApiRequest, ApiResponse
from toolweaver.api.routes import ROUTES, Route, dispatch
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
    return func.HttpResponse(
        body=response.body,
        status_code=response.status,
        headers=dict(response.headers),
        mimetype=response.content_type,
        charset="utf-8",
    )


def _register(route: Route) -> None:
    def handle(req: func.HttpRequest) -> func.HttpResponse:
        return to_func_response(dispatch(route, to_api_request(req), services()))

    handle.__name__ = handle.__qualname__ = route.function_name
    level = func.AuthLevel.ANONYMOUS if route.anonymous else func.AuthLevel.FUNCTION
    decorated = bp.route(route=route.path, methods=list(route.methods), auth_level=level)(handle)
    bp.function_name(route.function_name)(decorated)


for _route in ROUTES:
    _register(_route)
