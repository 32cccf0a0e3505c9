"""Exceptions to problem+json: the only place that knows which error means which status code.

Messages of our own errors are written for the caller and shown as they are. Anything else is a
bug: the caller sees a 500 with an error id, the log gets the traceback under the same id.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError

from toolweaver.api.http import ApiResponse, problem
from toolweaver.errors import (
    CatalogError,
    ConfigError,
    DeadlineExceededError,
    JobError,
    ModelError,
    NotFoundError,
    PlannerUnavailableError,
    PlanningError,
    PlanValidationError,
    PreconditionFailedError,
    RequestError,
    SearchError,
    StorageError,
    StorageUnavailableError,
    ToolNotFoundError,
    ToolValidationError,
    ToolWeaverError,
)

log = logging.getLogger(__name__)

# Most specific first: the first matching class decides.
_STATUS: tuple[tuple[type[ToolWeaverError], int], ...] = (
    (StorageUnavailableError, 503),
    (DeadlineExceededError, 504),
    (NotFoundError, 404),
    (ToolNotFoundError, 404),
    (PreconditionFailedError, 412),
    (CatalogError, 422),
    (SearchError, 422),
    (JobError, 409),
    (ModelError, 503),
    (ConfigError, 503),
    (StorageError, 502),
)


def from_exception(exc: BaseException) -> ApiResponse:
    if isinstance(exc, RequestError):
        return problem(exc.status, str(exc), **_errors(exc.errors))
    if isinstance(exc, ValidationError):
        return from_validation(exc)
    if isinstance(exc, PlannerUnavailableError):
        log.warning("answering 503: %s", exc)
        return problem(503, str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, PlanValidationError | PlanningError):
        errors: list[dict[str, object]] = [{"message": text} for text in exc.problems or []]
        return problem(422, str(exc), errors=errors)
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            headers = {}
            if isinstance(exc, StorageUnavailableError):
                headers["Retry-After"] = str(exc.retry_after)
            extra: dict[str, Any] = {}
            if isinstance(exc, ToolValidationError):
                extra = {"tool": exc.tool, "field": exc.field}
            if status >= 500:
                log.warning("answering %d: %s", status, exc)
            return problem(status, str(exc), headers=headers, **extra)
    error_id = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s", error_id)
    return problem(
        500, f"the server failed to answer; quote error id {error_id} when reporting it", error_id=error_id
    )


def from_validation(exc: ValidationError) -> ApiResponse:
    """422 listing each invalid field by its path; the offending values are not echoed back."""
    errors: list[dict[str, object]] = [
        {"field": ".".join(str(part) for part in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = errors[0]
    detail = f"{first['field']}: {first['message']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return problem(422, detail, errors=errors)


def _errors(errors: list[dict[str, object]]) -> dict[str, Any]:
    return {"errors": errors} if errors else {}
