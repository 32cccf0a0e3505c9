"""POST jobs (claim check on the queue) and GET jobs/{id}."""

from __future__ import annotations

import re

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.limits import caller_of
from toolweaver.api.models import JobRequest
from toolweaver.errors import NotFoundError, RequestError
from toolweaver.jobs.model import is_job_id
from toolweaver.services import Services

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as header values allow
POLL_SECONDS = "2"


def create_job(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, JobRequest).root
    key = request.header("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise RequestError("Idempotency-Key must be 1 to 200 visible ASCII characters")
    record, created = services.jobs.create(
        body.kind, body.input.model_dump(), idempotency_key=key, owner=caller_of(request)
    )
    url = f"/api/jobs/{record.id}"
    headers = {"Location": url, "Retry-After": POLL_SECONDS}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(202, {"id": record.id, "status": record.status, "status_url": url}, headers)


def get_job(request: ApiRequest, services: Services) -> ApiResponse:
    job_id = request.route_params.get("id", "")
    if not is_job_id(job_id):
        raise NotFoundError(f"job {job_id[:80]!r} does not exist: job ids are 32 hexadecimal characters")
    record, _ = services.jobs.get(job_id, owner=caller_of(request))
    headers = {} if record.terminal else {"Retry-After": POLL_SECONDS}
    return json_response(200, record.public(), headers)
