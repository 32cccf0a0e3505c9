"""HTTP functions for the routes of ``toolweaver.api.routes``, registered on a blueprint.

A route's caller methods are one function at the ``function`` level. Its operator methods (those
that change what the app will call) are a function of their own, at the ``admin`` level when
OPERATOR_AUTH=admin_key, so the Functions host itself demands the master key; with
OPERATOR_AUTH=entra they are at the ``function`` level and the app demands the Entra app role.
"""

from __future__ import annotations

import os

import azure.functions as func

from toolweaver.api.auth import principal_roles
from toolweaver.api.http import ApiRequest, ApiResponse
from toolweaver.api.routes import ROUTES, Route, dispatch
from toolweaver.errors import ConfigError
from toolweaver.execution import budget
from toolweaver.functions.runtime import services
from toolweaver.settings import Settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]


def _platform_signs_principals() -> bool:
    # App Service sets this when its authentication is on; only then is x-ms-client-principal
    # written by the platform rather than by whoever sent the request.
    return os.environ.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


def to_api_request(req: func.HttpRequest, *, operator: bool = False) -> ApiRequest:
    headers = {k.lower(): v for k, v in req.headers.items()}
    return ApiRequest(
        method=req.method,
        path=req.url,
        body=req.get_body() or b"",
        headers=headers,
        query=dict(req.params),
        route_params=dict(req.route_params),
        operator=operator,
        principal_roles=principal_roles(headers) if _platform_signs_principals() else frozenset(),
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


def operator_auth_mode() -> str:
    """OPERATOR_AUTH as the functions are indexed; a bad value keeps the safe default (admin)."""
    try:
        return Settings.from_env().operator_auth
    except ConfigError:
        return "admin_key"


def _register(route: Route, name: str, methods: tuple[str, ...], operator: bool, mode: str) -> None:
    # Only an admin-level function proves the master key: the host checked it before we run.
    proven_operator = operator and mode == "admin_key"

    def handle(req: func.HttpRequest) -> func.HttpResponse:
        request = to_api_request(req, operator=proven_operator)
        # An answer must leave before Azure's front end gives up (230 s) or functionTimeout.
        with budget.deadline_in(budget.HTTP_SECONDS):
            return to_func_response(dispatch(route, request, services()))

    handle.__name__ = handle.__qualname__ = name
    if route.anonymous:
        level = func.AuthLevel.ANONYMOUS
    else:
        level = func.AuthLevel.ADMIN if proven_operator else func.AuthLevel.FUNCTION
    decorated = bp.route(route=route.path, methods=list(methods), auth_level=level)(handle)
    bp.function_name(name)(decorated)


_MODE = operator_auth_mode()
for _route in ROUTES:
    for _name, _methods, _operator in _route.functions():
        _register(_route, _name, _methods, _operator, _MODE)
