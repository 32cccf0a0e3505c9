"""One frozen Settings object, read from the environment once and passed in from the edges.

Every name here is an app setting (environment variable) with the same name in
``local.settings.json.example`` and in the Bicep under ``infra/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from toolweaver.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DEFAULT_MODEL_DIR = REPO_DIR / "models" / "all-MiniLM-L6-v2"
DEMO_CATALOG = PACKAGE_DIR / "catalog" / "demo_catalog.yaml"
ANALYTICS_BACKENDS = ("prometheus", "otlp", "azuremonitor", "sqlite", "none")
PLANNER_RESPONSE_FORMATS = ("auto", "json_schema", "json_object", "text")


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolweaver"


def _default_threads() -> int:
    # Functions instances and CI runners are small: more threads than cores only adds contention.
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass(frozen=True)
class Settings:
    embedding_model_dir: Path = field(default=DEFAULT_MODEL_DIR, metadata={"env": "EMBEDDING_MODEL_DIR"})
    embedding_threads: int = field(default_factory=_default_threads, metadata={"env": "EMBEDDING_THREADS"})
    embedding_max_length: int = field(default=256, metadata={"env": "EMBEDDING_MAX_LENGTH"})
    index_cache_dir: Path = field(default_factory=_default_cache_dir, metadata={"env": "INDEX_CACHE_DIR"})
    catalog_path: Path = field(default=DEMO_CATALOG, metadata={"env": "CATALOG_PATH"})
    search_top_k: int = field(default=5, metadata={"env": "SEARCH_TOP_K", "max": 100})
    # Blob containers of the app's own data; the Bicep creates them with the same names.
    cache_container: str = field(default="toolweaver-cache", metadata={"env": "CACHE_CONTAINER"})
    jobs_container: str = field(default="toolweaver-jobs", metadata={"env": "JOBS_CONTAINER"})
    search_cache_ttl: int = field(default=3600, metadata={"env": "SEARCH_CACHE_TTL_SECONDS"})
    # A blob round trip costs about as much CPU as searching a small catalog: only results that
    # took at least this long to compute are shared through Blob Storage.
    search_cache_min_ms: int = field(default=20, metadata={"env": "SEARCH_CACHE_MIN_MS", "min": 0})
    discovery_cache_ttl: int = field(default=86400, metadata={"env": "DISCOVERY_CACHE_TTL_SECONDS"})
    # How long an instance trusts its copy of the catalog before asking storage for a newer version.
    catalog_refresh: int = field(default=10, metadata={"env": "CATALOG_REFRESH_SECONDS"})
    # Largest request body: catalog imports, and every other route (searches, runs, jobs, ...).
    max_body_bytes: int = field(default=4 * 1024 * 1024, metadata={"env": "MAX_BODY_BYTES"})
    max_request_bytes: int = field(
        default=256 * 1024, metadata={"env": "MAX_REQUEST_BYTES", "min": 1024, "max": 100 * 1024 * 1024}
    )
    prewarm: bool = field(default=False, metadata={"env": "PREWARM"})
    # Azure services, all signed in with an identity (empty: not configured). The Bicep under infra/
    # sets them; AZURE_CLIENT_ID picks the app's user-assigned identity for DefaultAzureCredential.
    azure_client_id: str = field(default="", metadata={"env": "AZURE_CLIENT_ID"})
    azure_openai_endpoint: str = field(default="", metadata={"env": "AZURE_OPENAI_ENDPOINT"})
    azure_openai_deployment: str = field(default="", metadata={"env": "AZURE_OPENAI_DEPLOYMENT"})
    azure_openai_api_version: str = field(default="", metadata={"env": "AZURE_OPENAI_API_VERSION"})
    # The planner's language model when there is no Azure OpenAI: any OpenAI-compatible server
    # (a local one, say). The key is for such servers only; Azure OpenAI is always keyless.
    openai_base_url: str = field(default="", metadata={"env": "OPENAI_BASE_URL"})
    openai_api_key: str = field(default="", repr=False, metadata={"env": "OPENAI_API_KEY"})
    openai_model: str = field(default="gpt-4o-mini", metadata={"env": "OPENAI_MODEL"})
    # The planner: tools offered to the model per request (catalogs of at most planner_full_catalog_max
    # tools are offered whole, unsearched), plan cache lifetime (0: no cache), seconds one model call
    # may take with its retries, and whether a run from a request ends with an answer in words.
    planner_top_k: int = field(default=8, metadata={"env": "PLANNER_TOP_K", "max": 50})
    planner_full_catalog_max: int = field(
        default=12, metadata={"env": "PLANNER_FULL_CATALOG_MAX", "min": 0, "max": 100}
    )
    plan_cache_ttl: int = field(default=3600, metadata={"env": "PLAN_CACHE_TTL_SECONDS", "min": 0})
    planner_timeout: int = field(default=60, metadata={"env": "PLANNER_TIMEOUT", "max": 600})
    planner_synthesize: bool = field(default=True, metadata={"env": "PLANNER_SYNTHESIZE"})
    # What the model server is asked for (auto: structured output, stepping down to JSON mode and
    # then plain text when the server refuses), and where the instructions go (auto: a system
    # message, moved into the first user message when the chat template has no system role).
    planner_response_format: str = field(
        default="auto", metadata={"env": "PLANNER_RESPONSE_FORMAT", "choices": PLANNER_RESPONSE_FORMATS}
    )
    planner_instructions_role: str = field(
        default="auto", metadata={"env": "PLANNER_INSTRUCTIONS_ROLE", "choices": ("auto", "system", "user")}
    )
    appinsights_connection_string: str = field(
        default="", repr=False, metadata={"env": "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    )
    appinsights_authentication_string: str = field(
        default="", repr=False, metadata={"env": "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}
    )
    # Running catalog tools (toolweaver/execution): calls in flight per plan or program, the
    # longest one call may take, and the largest JSON result a tool may return.
    max_concurrent_tools: int = field(default=8, metadata={"env": "MAX_CONCURRENT_TOOLS", "max": 256})
    tool_timeout: int = field(default=30, metadata={"env": "TOOL_TIMEOUT", "max": 600})
    max_tool_response_bytes: int = field(
        default=1024 * 1024, metadata={"env": "MAX_TOOL_RESPONSE_BYTES", "min": 1024}
    )
    # Trust (SECURITY.md): where http and mcp tools may connect (host names, *.wildcards, host:port),
    # which non-public address ranges they may still reach (CIDR), and the secrets and Entra ID
    # token scopes tools may carry, each bound to its hosts (JSON; see toolweaver/execution/trust.py).
    tool_allowed_hosts: str = field(default="", metadata={"env": "TOOL_ALLOWED_HOSTS"})
    tool_private_networks: str = field(default="", metadata={"env": "TOOL_PRIVATE_NETWORKS"})
    tool_secrets: str = field(default="", metadata={"env": "TOOL_SECRETS"})
    tool_token_scopes: str = field(default="", metadata={"env": "TOOL_TOKEN_SCOPES"})
    # Who may change what the app will call: the Functions admin level (master key) or an Entra ID
    # app role through App Service Authentication (with a function key, as every route).
    operator_auth: str = field(
        default="admin_key", metadata={"env": "OPERATOR_AUTH", "choices": ("admin_key", "entra")}
    )
    operator_role: str = field(default="ToolWeaver.Admin", metadata={"env": "OPERATOR_ROLE"})
    # The Entra ID tenant and app registration that sign callers in (App Service Authentication):
    # with both set, the MCP endpoint's OAuth protected-resource metadata (RFC 9728) is served.
    entra_tenant_id: str = field(default="", metadata={"env": "ENTRA_TENANT_ID"})
    entra_client_id: str = field(default="", metadata={"env": "ENTRA_CLIENT_ID"})
    # true: programs do not run at all where the kernel refuses the sandbox's seccomp filter.
    sandbox_require_seccomp: bool = field(default=False, metadata={"env": "SANDBOX_REQUIRE_SECCOMP"})
    # Operations. Where metrics and traces go (see toolweaver/observability/analytics.py), how
    # often push backends receive them, and the sqlite backend's file.
    analytics_backend: str = field(
        default="prometheus",
        metadata={
            "env": "ANALYTICS_BACKEND",
            "choices": ("prometheus", "otlp", "azuremonitor", "sqlite", "none"),
        },
    )
    analytics_db_path: Path = field(
        default_factory=lambda: _default_cache_dir() / "analytics.db", metadata={"env": "ANALYTICS_DB_PATH"}
    )
    analytics_interval: int = field(default=15, metadata={"env": "ANALYTICS_INTERVAL_SECONDS", "max": 3600})
    # The otlp backend's collector (base URL; /v1/metrics and /v1/traces are appended) and its
    # headers as k=v,k2=v2: credentials, so never shown.
    otel_endpoint: str = field(default="", metadata={"env": "OTEL_EXPORTER_OTLP_ENDPOINT"})
    otel_headers: str = field(default="", repr=False, metadata={"env": "OTEL_EXPORTER_OTLP_HEADERS"})
    otel_service_name: str = field(default="toolweaver", metadata={"env": "OTEL_SERVICE_NAME"})
    # Requests each caller may send per minute and per hour, on each instance (0: no limit).
    requests_per_minute: int = field(default=60, metadata={"env": "REQUESTS_PER_MINUTE", "min": 0})
    requests_per_hour: int = field(default=1000, metadata={"env": "REQUESTS_PER_HOUR", "min": 0})
    # The MCP endpoint (POST /api/mcp): catalog tools listed next to the meta-tools (comma-separated
    # names), and the browser origins allowed to call it (comma-separated; empty: none, so only
    # clients that send no Origin, as MCP clients outside a browser do).
    mcp_pinned_tools: str = field(default="", metadata={"env": "MCP_PINNED_TOOLS"})
    mcp_allowed_origins: str = field(default="", metadata={"env": "MCP_ALLOWED_ORIGINS"})
    # Log lines as JSON objects (one per line, with the request and job ids) or as plain text.
    log_format: str = field(default="json", metadata={"env": "LOG_FORMAT", "choices": ("json", "text")})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment); unset names keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(name, raw.strip(), f.type, f.metadata)
        return cls(**values)  # type: ignore[arg-type]


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _parse(name: str, raw: str, kind: object, rules: Mapping[str, object]) -> object:
    choices = rules.get("choices")
    if isinstance(choices, tuple):
        if raw.lower() not in choices:
            raise ConfigError(f"{name}={raw!r} is not one of: {', '.join(choices)}")
        return raw.lower()
    if kind in ("bool", bool):
        if raw.lower() not in _TRUE + _FALSE:
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
        return raw.lower() in _TRUE
    if kind in ("Path", Path):
        return Path(raw).expanduser()
    if kind in ("int", int):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        minimum, maximum = rules.get("min", 1), rules.get("max")
        if isinstance(minimum, int) and value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        if isinstance(maximum, int) and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}, got {value}")
        return value
    return raw
