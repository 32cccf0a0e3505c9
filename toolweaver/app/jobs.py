"""The job kinds the queue worker runs: the same use cases as the HTTP API, for longer work.

``job_kinds`` is called once by the composition root; the queue face only hands a job's record
to ``JobWorker``, which calls the handler of its kind. A job's input was checked when it was
queued; it is checked again here against the same models, because a stored record may have been
damaged since, and a bad input must be a terminal failure, not a crash the queue retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from toolweaver.api.models import AskInput, RunRequest, SearchJobInput
from toolweaver.app.search import SearchQuery
from toolweaver.errors import RequestError
from toolweaver.jobs.worker import JobHandler, Progress

if TYPE_CHECKING:
    from toolweaver.app.runs import Runs
    from toolweaver.app.search import ToolSearch

M = TypeVar("M", bound=BaseModel)


def job_input(model: type[M], payload: Any) -> M:
    """A queued job's input as ``model``; a damaged one is a terminal 422 failure."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise RequestError(f"the job input is invalid: {exc.error_count()} error(s)", status=422) from None


def job_kinds(search: ToolSearch, runs: Runs) -> Mapping[str, JobHandler]:
    """``search`` (a batch of queries), ``run`` (a program or plan) and ``ask`` (plan, run, answer)."""

    def search_batch(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        batch = job_input(SearchJobInput, payload)
        answers = []
        for done, query in enumerate(batch.queries, start=1):
            answers.append({"query": query.query, **search.search(SearchQuery(**query.model_dump()))})
            progress(done, len(batch.queries))
        return {"searches": answers}

    def run(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        body = job_input(RunRequest, payload)  # the outcome, whatever its status, is the result
        result = runs.run(
            program=body.program,
            plan=body.plan,
            request=body.request,
            timeout_s=body.timeout_s,
            max_tool_calls=body.max_tool_calls,
        )
        progress(1, 1)
        return result

    def ask(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        body = job_input(AskInput, payload)
        result = runs.ask(body.request, timeout_s=body.timeout_s)
        progress(1, 1)
        return result

    return {"search": search_batch, "run": run, "ask": ask}
