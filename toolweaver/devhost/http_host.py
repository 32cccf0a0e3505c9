"""Serve the app's HTTP triggers with aiohttp, the way the Functions host maps requests to them.

Routes are compiled once at start. Errors the host itself produces are RFC 9457 problem details
(``application/problem+json``) and never carry a traceback: that goes to the log only.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from http import HTTPStatus
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from toolweaver.devhost.invoke import Invoker
from toolweaver.devhost.loader import HTTP_TRIGGER, FunctionSpec, LoadedApp
from toolweaver.devhost.routes import MethodNotAllowed, Route, Router, RouteTemplate

logger = logging.getLogger(__name__)

DEFAULT_PORT = 7071
DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's request size limit
KEY_HEADER = "x-functions-key"
KEY_PARAM = "code"
PROBLEM_TYPE = "application/problem+json"
_KEYED_LEVELS = frozenset({"function", "admin"})


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    """A problem+json response; ``about:blank`` type, so the title is the status phrase."""
    phrase = HTTPStatus(status).phrase
    body = {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": PROBLEM_TYPE, **(headers or {})},
    )


def masked_url(request: web.BaseRequest) -> str:
    """The path and query for a log line, with the function key replaced."""
    if KEY_PARAM not in request.query:
        return request.path_qs
    return str(request.rel_url.update_query({KEY_PARAM: "***"}))


def _joined(values: MultiMapping[str]) -> dict[str, str]:
    # The host joins repeated headers and query parameters with commas (StringValues.ToString()).
    joined: dict[str, str] = {}
    for name, value in values.items():
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def to_web_response(result: Any) -> web.Response | None:
    """The aiohttp response for what a function returned; None when it is not an HTTP answer."""
    if isinstance(result, func.HttpResponse):
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in result.headers.items():
            headers.add(name, value)
        if "content-type" not in headers:
            # Same rule as the worker: a charset only for text types.
            mimetype = result.mimetype
            headers["Content-Type"] = (
                f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
            )
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if isinstance(result, str):
        return web.Response(
            status=200, body=result.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}
        )
    return None


class HttpHost:
    def __init__(
        self,
        app: LoadedApp,
        invoker: Invoker,
        *,
        function_key: str,
        admin_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._invoker = invoker
        self._key = function_key.encode()
        self._admin_key = admin_key.encode() if admin_key else None
        self._host = host
        self._port = port
        self._max_body = max_body_bytes
        self.functions = app.of_type(HTTP_TRIGGER)
        prefix = app.route_prefix
        self._router: Router[FunctionSpec] = Router(
            Route(RouteTemplate.compile(f.route, prefix), frozenset(f.methods) if f.methods else None, f)
            for f in self.functions
        )
        self._prefix = prefix
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def function_url(self, spec: FunctionSpec) -> str:
        path = "/".join(p for p in (self._prefix, spec.route.strip("/")) if p)
        return f"{self.url}/{path}"

    async def start(self) -> None:
        # client_max_size one byte over the cap: request.read() raises past it, we answer 413.
        app = web.Application(client_max_size=self._max_body + 1)
        # [\s\S] and not ".": a decoded %0A in the path must reach us too (aiohttp would answer text/plain)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._dispatch(request)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug(
                "%s %s -> %d (%.1f ms)", request.method, masked_url(request), response.status, elapsed
            )
        return response

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        found = self._router.match(request.method, request.path)
        if found is None:
            return problem(404, f"No function is registered for {request.path}.")
        if isinstance(found, MethodNotAllowed):
            allowed = ", ".join(found.allowed)
            detail = f"{request.method} is not allowed here; allowed: {allowed}."
            return problem(405, detail, {"Allow": allowed})
        spec = found.target
        refusal = self._key_refusal(spec.auth_level, request)
        if refusal is not None:
            return refusal
        if request.content_length is not None and request.content_length > self._max_body:
            return self._too_large()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large()
        headers = _joined(request.headers)
        # Azure's front end appends the address it received the request from; so does this host.
        seen = ",".join(headers.pop(n) for n in [n for n in headers if n.lower() == "x-forwarded-for"])
        headers["X-Forwarded-For"] = f"{seen},{request.remote}" if seen else str(request.remote)
        http_request = func.HttpRequest(
            request.method,
            str(request.url),
            headers=headers,
            params=_joined(request.query),
            route_params=found.params,
            body=body,
        )
        return await self._invoke(spec, http_request, request)

    async def _invoke(
        self, spec: FunctionSpec, http_request: func.HttpRequest, request: web.Request
    ) -> web.Response:
        try:
            result = await self._invoker.call(spec, http_request)
        except Exception:
            logger.exception("function %s failed on %s %s", spec.name, request.method, masked_url(request))
            return problem(500, f"The function {spec.name} failed; the host log has the details.")
        if result is None:
            return web.Response(status=204)
        response = to_web_response(result)
        if response is None:
            logger.error(
                "function %s returned %s, not an HttpResponse or str", spec.name, type(result).__name__
            )
            return problem(500, f"The function {spec.name} returned no HTTP response.")
        return response

    def _key_refusal(self, level: str, request: web.Request) -> web.Response | None:
        """As the Functions host: the master (admin) key opens every level, a function key only
        the function level. A function key on an admin function gets a 403 that names the key
        needed (Azure's host answers 401 there, before the app runs)."""
        if level not in _KEYED_LEVELS:
            return None
        supplied = (request.headers.get(KEY_HEADER) or request.query.get(KEY_PARAM) or "").encode()
        # Both comparisons always run, so timing does not tell which key was close.
        is_admin = self._admin_key is not None and hmac.compare_digest(supplied, self._admin_key)
        is_caller = hmac.compare_digest(supplied, self._key)
        if is_admin or (is_caller and level != "admin"):
            return None
        if is_caller:
            return problem(
                403,
                "This function changes what the app will call: it needs the operator key "
                "(DEVHOST_ADMIN_KEY here; the host's master key in Azure), not a function key.",
            )
        return problem(401, f"A function key is required: send it in {KEY_HEADER} or ?{KEY_PARAM}=.")

    def _too_large(self) -> web.Response:
        return problem(413, f"The request body is larger than {self._max_body} bytes.")
