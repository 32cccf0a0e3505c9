"""One exception tree for ToolWeaver.

    ToolWeaverError                 base; every error the package raises on purpose
    ├── ConfigError                 a setting is missing or invalid (names the setting)
    │   ├── PlannerNotConfigured    no language model is set up for the planner (lists the settings)
    │   └── ContextWindowError      the prompt leaves no room in the server's context    [planning.ports]
    ├── CatalogError                a catalog file or document cannot be read
    │   ├── ToolValidationError     one tool is invalid (names the tool and the field)
    │   └── ToolNotFoundError       a tool name is not in the catalog
    ├── SearchError                 a search request is invalid (empty query, bad mode, ...)
    ├── ModelError                  the embedding model is missing, unreadable or fails parity
    ├── StorageError                a storage backend failed
    │   ├── NotFoundError           the key does not exist
    │   ├── PreconditionFailedError an ETag condition did not hold
    │   └── StorageUnavailableError the service cannot be reached now (retry later: HTTP 503)
    ├── RequestError                an API request is malformed or too large (HTTP 4xx)
    ├── PlanValidationError         a plan is invalid for the catalog (``problems``, each naming a step)
    ├── PlanningError               no valid plan came out of the model (``problems`` says why)
    │   └── PlannerUnavailableError the language model cannot be reached or is busy (retry later)
    ├── ToolCallError               one tool call failed (``retryable``, ``kind``)    [execution.ports]
    │   └── RetryLaterError         retryable, the tool said when    [execution.backends.base]
    ├── DeadlineExceededError       work did not finish within its time budget (HTTP 504; a failed job)
    └── JobError                    a job record is missing or cannot change state

Adapters convert third-party errors with ``raise X(...) from exc``. Only the edges (CLI, HTTP)
turn these into exit codes or status codes. Messages say what to do next. The two tool-call
errors and the context-window error live beside the ports that raise them; every other class is
here.
"""

from __future__ import annotations


class ToolWeaverError(Exception):
    """Base class of every error ToolWeaver raises on purpose."""


class ConfigError(ToolWeaverError):
    """A setting is missing or invalid."""


class CatalogError(ToolWeaverError):
    """A catalog file or document cannot be read."""


class ToolValidationError(CatalogError):
    """One tool definition is invalid."""

    def __init__(self, tool: str, field: str, problem: str) -> None:
        self.tool = tool
        self.field = field
        self.problem = problem
        super().__init__(f"tool {tool!r}: field {field!r}: {problem}")


class ToolNotFoundError(CatalogError):
    """A tool name is not in the catalog."""


class SearchError(ToolWeaverError):
    """A search request is invalid."""


class ModelError(ToolWeaverError):
    """The embedding model is missing, unreadable or does not match its reference."""


class StorageError(ToolWeaverError):
    """A storage backend failed."""


class NotFoundError(StorageError):
    """The requested key does not exist."""


class PreconditionFailedError(StorageError):
    """An ETag condition (If-Match / If-None-Match) did not hold."""


class StorageUnavailableError(StorageError):
    """The storage service cannot be reached or keeps failing: try again later."""

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RequestError(ToolWeaverError):
    """An API request is malformed, of the wrong type or too large."""

    def __init__(
        self, message: str, *, status: int = 400, errors: list[dict[str, object]] | None = None
    ) -> None:
        self.status = status
        self.errors = errors or []
        super().__init__(message)


class JobError(ToolWeaverError):
    """A job record is missing or cannot change state."""


class DeadlineExceededError(ToolWeaverError):
    """Work did not finish within its time budget (``seconds``) and was stopped: terminal, not retried.

    The budgets come from host.json's functionTimeout (see ``toolweaver.execution.budget``), so a
    run, ask or job ends with this error, recorded, before the host would stop the invocation.
    """

    def __init__(self, message: str, *, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(message)


PLANNER_SETTINGS = (
    "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT (Azure OpenAI, signed in with the app's identity)",
    "OPENAI_BASE_URL and OPENAI_MODEL (any OpenAI-compatible server, e.g. a local one)",
)


class PlannerNotConfigured(ConfigError):
    """No language model is configured for the planner; ``settings`` lists what to set."""

    def __init__(self, message: str | None = None) -> None:
        self.settings = PLANNER_SETTINGS
        super().__init__(
            message
            or "no language model is configured for the planner: set "
            + ", or ".join(PLANNER_SETTINGS)
            + "; search, tools and runs work without one"
        )


class PlanValidationError(ToolWeaverError):
    """A plan is invalid; ``problems`` lists every problem found, each naming its step."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid plan: " + "; ".join(problems))


class PlanningError(ToolWeaverError):
    """The model gave no valid plan (after one repair round); ``problems`` lists why."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message + (": " + "; ".join(self.problems) if self.problems else ""))


class PlannerUnavailableError(PlanningError):
    """The language model cannot be reached, timed out or keeps answering 429/5xx: try again later."""

    def __init__(self, message: str, *, retry_after: int = 10) -> None:
        self.retry_after = retry_after
        super().__init__(message)
