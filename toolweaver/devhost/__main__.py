"""``python -m toolweaver.devhost``: serve function_app.py locally, like ``func start``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from toolweaver.devhost.host import DevHost, serve_until_signalled
from toolweaver.devhost.http_host import DEFAULT_PORT
from toolweaver.devhost.loader import DEFAULT_APP
from toolweaver.devhost.settings_file import effective_values, read_local_settings
from toolweaver.errors import ConfigError

logger = logging.getLogger("toolweaver.devhost")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolweaver.devhost", description=__doc__)
    parser.add_argument(
        "--app", type=Path, default=DEFAULT_APP, help="the function app file (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, help=f"HTTP port (default: Host.LocalHttpPort, else {DEFAULT_PORT})"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--settings", type=Path, help="local.settings.json to read (default: the one next to the app, if any)"
    )
    parser.add_argument("--no-queues", action="store_true", help="serve HTTP only; do not poll queues")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request (keys masked)")
    return parser


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The storage SDK logs every HTTP call (headers included) at INFO.
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        settings_path = args.settings or args.app.resolve().parent / "local.settings.json"
        local = read_local_settings(settings_path, required=args.settings is not None)
        port = args.port if args.port is not None else (local.http_port or DEFAULT_PORT)
        host = DevHost(
            args.app, effective_values(local.values), port, host=args.host, queues=not args.no_queues
        )
        asyncio.run(serve_until_signalled(host))
    except ConfigError as exc:
        logger.error("%s", exc)
        return 2
    except OSError as exc:  # the port is taken, most often
        logger.error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
