"""The composition root: one Services object per process builds each part on first use.

Settings are read once at the edge and passed in. Tests hand in their own stores, queue and
embedder; in Azure and under the dev host the stores come from ``storage.connect``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from toolweaver.api.limits import RateLimiter
from toolweaver.catalog.store import CatalogStore
from toolweaver.errors import PlannerNotConfigured, RequestError
from toolweaver.jobs import JobStore, JobWorker
from toolweaver.jobs.worker import JobHandler
from toolweaver.search.embed import Embedder
from toolweaver.search.service import SearchService
from toolweaver.settings import Settings
from toolweaver.skill_health import SkillStatsStore
from toolweaver.storage.cache import BlobCache
from toolweaver.storage.ports import BlobStore, JobQueue

if TYPE_CHECKING:
    from toolweaver.app.catalog import CatalogChanges
    from toolweaver.app.runs import Runs
    from toolweaver.app.search import ToolSearch
    from toolweaver.app.tools import CatalogTools
    from toolweaver.catalog.model import Catalog, Tool
    from toolweaver.catalog.store import CatalogVersion
    from toolweaver.execution.service import ExecutionService
    from toolweaver.execution.trust import ToolTrust
    from toolweaver.planning.planner import Planner
    from toolweaver.search.engine import SearchEngine
    from toolweaver.search.service import IndexReport

log = logging.getLogger(__name__)

T = TypeVar("T")
JOBS_QUEUE = "toolweaver-jobs"  # fixed: trigger bindings, host.json and the Bicep name it too
POISON_QUEUE = f"{JOBS_QUEUE}-poison"


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        cache_store: BlobStore | None = None,
        jobs_store: BlobStore | None = None,
        queue: JobQueue | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.environ = environ
        self.started = time.monotonic()
        self._parts: dict[str, Any] = {
            "cache_store": cache_store,
            "jobs_store": jobs_store,
            "queue": queue,
        }
        self._embedder = embedder
        self._lock = threading.RLock()

    def _part(self, name: str, build: Callable[[], T]) -> T:
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._parts[name] = build()
        return part

    def _storage_config(self) -> Any:
        from toolweaver.storage.connect import StorageConfig

        return self._part("storage_config", lambda: StorageConfig.from_env(self.environ))

    @property
    def cache_store(self) -> BlobStore:
        def build() -> BlobStore:
            from toolweaver.storage.connect import open_blob_store

            return open_blob_store(self._storage_config(), self.settings.cache_container)

        return self._part("cache_store", build)

    @property
    def jobs_store(self) -> BlobStore:
        def build() -> BlobStore:
            from toolweaver.storage.connect import open_blob_store

            return open_blob_store(self._storage_config(), self.settings.jobs_container)

        return self._part("jobs_store", build)

    @property
    def queue(self) -> JobQueue:
        def build() -> JobQueue:
            from toolweaver.storage.connect import open_job_queue

            return open_job_queue(self._storage_config(), JOBS_QUEUE)

        return self._part("queue", build)

    @property
    def catalog(self) -> CatalogStore:
        s = self.settings
        return self._part(
            "catalog",
            lambda: CatalogStore(self.cache_store, seed=s.catalog_path, refresh_seconds=s.catalog_refresh),
        )

    @property
    def search(self) -> SearchService:
        return self._part(
            "search", lambda: SearchService(self.settings, self.cache_store, embedder=self._embedder)
        )

    @property
    def search_cache(self) -> BlobCache:
        ttl = self.settings.search_cache_ttl
        return self._part(
            "search_cache", lambda: BlobCache(self.cache_store, "search", ttl, memory_entries=2048)
        )

    @property
    def discovery_cache(self) -> BlobCache:
        ttl = self.settings.discovery_cache_ttl
        return self._part("discovery_cache", lambda: BlobCache(self.cache_store, "discovery", ttl))

    @property
    def jobs(self) -> JobStore:
        return self._part("jobs", lambda: JobStore(self.jobs_store, self.queue))

    @property
    def job_handlers(self) -> dict[str, JobHandler]:
        """The job kinds (toolweaver.app.jobs); a test app may add kinds of its own."""
        from toolweaver.app.jobs import job_kinds

        return self._part("job_handlers", lambda: dict(job_kinds(self.tool_search, self.runs)))

    @property
    def worker(self) -> JobWorker:
        # Searches call no tools: one interrupted by a crash may run again. Other kinds may not.
        return self._part("worker", lambda: JobWorker(self.jobs, self.job_handlers, rerunnable={"search"}))

    @property
    def skill_stats(self) -> SkillStatsStore:
        """Runs and ratings of each skill, shared by all instances (for the health score)."""
        return self._part("skill_stats", lambda: SkillStatsStore(self.cache_store))

    @property
    def catalog_changes(self) -> CatalogChanges:
        """Tools and skills as operators change them, under the operator's policy."""
        from toolweaver.app.catalog import CatalogChanges

        return self._part(
            "catalog_changes",
            lambda: CatalogChanges(
                self.catalog, lambda: self.trust, lambda: self.skill_stats, self.check_program
            ),
        )

    @property
    def trust(self) -> ToolTrust:
        """The operator's policy for remote tools (TOOL_* settings), asked on every catalog write."""
        from toolweaver.execution.backends.defaults import tool_trust

        return self._part("trust", lambda: tool_trust(self.settings))

    @property
    def rate_limiter(self) -> RateLimiter:
        s = self.settings
        return self._part("rate_limiter", lambda: RateLimiter(s.requests_per_minute, s.requests_per_hour))

    @property
    def execution(self) -> ExecutionService:
        """The executor, sandbox and plan runner over the shared catalog (built on first use)."""

        catalog = self.catalog
        return self._part(
            "execution",
            lambda: build_execution(
                self.settings,
                lambda: catalog.current().catalog,
                environ=self.environ,
                discovery_cache=self.discovery_cache,
                skill_stats=self.skill_stats,
                trust=self.trust,
            ),
        )

    @property
    def planner(self) -> Planner:
        """The planner; PlannerNotConfigured (HTTP 503) names the settings when no model is set."""

        def build() -> Planner:
            s = self.settings
            cache = BlobCache(self.cache_store, "plans", s.plan_cache_ttl, memory_entries=256)
            return build_planner(s, lambda: self.catalog.current().catalog, self.find_tools, cache)

        return self._part("planner", build)

    @property
    def tool_search(self) -> ToolSearch:
        """Search with its result cache (the use case behind the HTTP search and the MCP face)."""

        def build() -> ToolSearch:
            from toolweaver.app.search import ToolSearch

            s = self.settings
            return ToolSearch(self.current_engine, self.search_cache, shared_min_ms=s.search_cache_min_ms)

        return self._part("tool_search", build)

    @property
    def runs(self) -> Runs:
        """Programs, plans and requests run now."""

        def build() -> Runs:
            from toolweaver.app.runs import Runs

            s = self.settings
            return Runs(
                lambda: self.execution,
                lambda: self.planner,
                planner_timeout=s.planner_timeout,
                synthesize=s.planner_synthesize,
            )

        return self._part("runs", build)

    @property
    def catalog_tools(self) -> CatalogTools:
        """Describe and call single catalog tools through the executor."""

        def build() -> CatalogTools:
            from toolweaver.app.tools import CatalogTools

            return CatalogTools(
                lambda: self.catalog.current().catalog,
                lambda: self.execution,
                tool_timeout=self.settings.tool_timeout,
            )

        return self._part("catalog_tools", build)

    def part(self, name: str, build: Callable[[], T]) -> T:
        """A part a face builds once per Services (the MCP server): built by ``build`` on first use.

        The faces depend on this composition root, so it cannot import them; they hand it their
        builder instead and get one instance per Services, shared by all threads."""
        return self._part(f"face:{name}", build)

    def current_engine(self) -> tuple[CatalogVersion, SearchEngine, IndexReport]:
        """The newest catalog version and its search engine (from memory, storage, or built)."""
        version = self.catalog.current()
        engine, report = self.search.engine(version.catalog, source="catalog")
        return version, engine, report

    def find_tools(self, request: str, top_k: int) -> list[Tool]:
        """The catalog's best tools for ``request`` (the planner offers only these to the model)."""
        _, engine, _ = self.current_engine()
        return [hit.tool for hit in engine.search(request, top_k=top_k)]

    @property
    def sandbox_health(self) -> dict[str, Any] | None:
        """The sandbox's state once a program has run in this process, else None."""
        execution = self._parts.get("execution")
        health = getattr(execution.code_runner, "health", None) if execution is not None else None
        if health is None:
            return None
        state = health()
        return {
            "seccomp_active": state.seccomp_active,
            "seccomp_detail": state.seccomp_detail,
            "runs": state.runs,
        }

    @property
    def uptime(self) -> float:
        """Seconds since this process built its services."""
        return time.monotonic() - self.started

    @property
    def model_loaded(self) -> bool:
        search = self._parts.get("search")
        return search is not None and search.loaded

    @property
    def index_loaded(self) -> bool:
        search = self._parts.get("search")
        return search is not None and search.engines_loaded > 0

    def check_program(self, code: str) -> None:
        """Reject a program early (RequestError 422) when the sandbox's pre-check would refuse it."""
        from toolweaver.execution.sandbox.precheck import precheck  # the sandbox's own rules

        problem = precheck(code)
        if problem is not None:
            raise RequestError(f"the program would be rejected: {problem}", status=422)

    def prewarm(self) -> None:
        """Load the model and the current catalog's index now, so the first request does not wait."""
        started = time.perf_counter()
        _, _, report = self.current_engine()
        log.info(
            "prewarmed: index %s from %s in %.2f s", report.key, report.source, time.perf_counter() - started
        )


def build_execution(
    settings: Settings,
    catalog: Callable[[], Catalog],
    *,
    environ: Mapping[str, str] | None = None,
    discovery_cache: BlobCache | None = None,
    skill_stats: SkillStatsStore | None = None,
    trust: ToolTrust | None = None,
) -> ExecutionService:
    """The executor, sandbox and plan runner over ``catalog``: for the app and the CLI alike."""
    from toolweaver.execution.backends.defaults import default_backends
    from toolweaver.execution.sandbox import LocalSandboxRunner
    from toolweaver.execution.service import ExecutionService
    from toolweaver.identity import credential_factory

    backends = default_backends(
        settings,
        environ=environ,
        credential_factory=credential_factory(settings.azure_client_id),
        discovery_cache=discovery_cache,
        trust=trust,  # the app's one policy object, the same one catalog writes are checked with
    )
    runner = LocalSandboxRunner(require_seccomp=settings.sandbox_require_seccomp)
    return ExecutionService(catalog, backends, runner, settings, skill_stats=skill_stats)


def build_planner(
    settings: Settings,
    catalog: Callable[[], Catalog],
    find_tools: Callable[[str, int], list[Tool]],
    cache: BlobCache | None,
) -> Planner:
    """The planner over ``catalog``; PlannerNotConfigured (HTTP 503, CLI error) names the settings
    when no model is set. The Entra ID token provider is built here, at the edge of the core."""
    from toolweaver.identity import bearer_token_provider, credential_factory
    from toolweaver.planning.openai_chat import COGNITIVE_SERVICES_SCOPE, chat_model_from_settings
    from toolweaver.planning.planner import Planner

    token = bearer_token_provider(credential_factory(settings.azure_client_id), COGNITIVE_SERVICES_SCOPE)
    chat = chat_model_from_settings(settings, token_provider=token)
    if chat is None:
        raise PlannerNotConfigured()
    return Planner(
        chat,
        catalog=catalog,
        find_tools=find_tools,
        cache=cache,
        top_k=settings.planner_top_k,
        full_catalog_max=settings.planner_full_catalog_max,
    )
