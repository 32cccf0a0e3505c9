"""``make run``: Azurite plus the dev host serving function_app.py, with the demo catalog indexed.

Creates local.settings.json from the example on first use, starts Azurite on its default ports
(or uses one that is already running there), serves the app on http://127.0.0.1:7071/api/, loads
the model and index, prints ready-to-paste curl lines, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import sys
import time

from toolweaver.devhost.__main__ import configure_logging
from toolweaver.devhost.azurite import Azurite
from toolweaver.devhost.host import ADMIN_KEY_SETTING, FUNCTION_KEY_SETTING, DevHost, serve_until_signalled
from toolweaver.devhost.http_host import DEFAULT_PORT
from toolweaver.devhost.settings_file import effective_values, read_local_settings
from toolweaver.errors import ConfigError, ToolWeaverError
from toolweaver.settings import REPO_DIR, Settings

log = logging.getLogger("toolweaver.run")

SETTINGS = REPO_DIR / "local.settings.json"
EXAMPLE = REPO_DIR / "local.settings.json.example"
DEV_STORAGE = "UseDevelopmentStorage=true"
AZURITE_PORTS = (10000, 10001)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _azurite_for(connection: str | None) -> Azurite | None:
    """Our own Azurite when the settings point at the local emulator and none runs yet."""
    if connection != DEV_STORAGE:
        log.info("Using the storage account from AzureWebJobsStorage; not starting Azurite")
        return None
    if all(_listening(port) for port in AZURITE_PORTS):
        log.info("Using the Azurite already listening on ports %s and %s", *AZURITE_PORTS)
        return None
    azurite = Azurite(
        blob_port=AZURITE_PORTS[0],
        queue_port=AZURITE_PORTS[1],
        location=REPO_DIR / ".azurite",
        well_known_account=True,
    )
    azurite.location.mkdir(exist_ok=True)
    azurite.start()
    log.info("Azurite started on ports %s (blob) and %s (queue), data in .azurite/", *AZURITE_PORTS)
    return azurite


def _ready_banner(url: str, key: str, admin_key: str, settings: Settings) -> str:
    return f"""
ToolWeaver is running at {url}/   (Ctrl-C stops it and Azurite)

Keys: callers search, describe and run with x-functions-key: {key}   ({FUNCTION_KEY_SETTING})
      operators change tools and skills with x-functions-key: {admin_key}   ({ADMIN_KEY_SETTING})

  curl {url}/health
  curl -X POST {url}/tools/search -H 'x-functions-key: {key}' \\
       -H 'Content-Type: application/json' -d '{{"query": "weather in Paris tomorrow", "top_k": 3}}'

Metrics: {_metrics_hint(url, key, settings)}
Limits: {_limits_hint(settings)}
"""


def _metrics_hint(url: str, key: str, settings: Settings) -> str:
    """Where this run's metrics can be seen, for the backend ANALYTICS_BACKEND chose."""
    backend = settings.analytics_backend
    if backend == "prometheus":
        return f"curl {url}/metrics -H 'x-functions-key: {key}'   (Prometheus text)"
    if backend == "sqlite":
        return f"{settings.analytics_db_path}; .venv/bin/python -m toolweaver report   (also /metrics)"
    if backend == "otlp":
        return f"pushed to {settings.otel_endpoint} every {settings.analytics_interval} s (also /metrics)"
    if backend == "azuremonitor":
        return "pushed to Application Insights (also /metrics)"
    return f"ANALYTICS_BACKEND=none; this instance's counters are still at {url}/metrics"


def _limits_hint(settings: Settings) -> str:
    minute, hour = settings.requests_per_minute, settings.requests_per_hour
    if not (minute or hour):
        return "none (REQUESTS_PER_MINUTE=0 and REQUESTS_PER_HOUR=0)"
    return (
        f"{minute or 'unlimited'} requests a minute and {hour or 'unlimited'} an hour per caller; "
        "REQUESTS_PER_MINUTE=0 make run turns the minute limit off"
    )


async def _when_ready(host: DevHost) -> None:
    """Load the model and index now (the warmup trigger may have done it), then say how to call."""
    from toolweaver.functions import runtime

    started = time.perf_counter()
    log.info("Loading the model and indexing the catalog ...")
    await asyncio.get_running_loop().run_in_executor(None, runtime.services().prewarm)
    log.info("Ready in %.1f s", time.perf_counter() - started)
    api = host.url.rstrip("/") + "/api"
    banner = _ready_banner(api, host.function_key, host.admin_key, runtime.services().settings)
    print(banner, flush=True)


def main() -> int:
    configure_logging(verbose=False)
    if not SETTINGS.exists():
        shutil.copyfile(EXAMPLE, SETTINGS)
        log.info("Created local.settings.json from local.settings.json.example")
    azurite: Azurite | None = None
    try:
        local = read_local_settings(SETTINGS, required=True)
        values = effective_values(local.values)
        azurite = _azurite_for(values.get("AzureWebJobsStorage"))
        host = DevHost(
            None,
            values,
            local.http_port or DEFAULT_PORT,
            function_key=values.get(FUNCTION_KEY_SETTING),
            admin_key=values.get(ADMIN_KEY_SETTING),
        )
        asyncio.run(serve_until_signalled(host, _when_ready))
    except (ConfigError, ToolWeaverError) as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("cannot serve: %s (is another `make run` or func start using the port?)", exc)
        return 1
    finally:
        if azurite is not None:
            azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
