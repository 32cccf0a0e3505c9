"""``report``: what the sqlite analytics backend recorded, per metric name.

``python -m toolweaver report [--db PATH] [--hours 24] [--json]`` prints count, sum, mean and p95.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from toolweaver.errors import ConfigError
from toolweaver.observability.sqlite_sink import ReportRow, report
from toolweaver.settings import Settings


def add_report_command(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="summarise the analytics the sqlite backend recorded (ANALYTICS_BACKEND=sqlite)",
        description="Count, sum, mean and 95th percentile per metric name over the last hours.",
    )
    p.add_argument(
        "--db",
        type=Path,
        help="the analytics database (default: ANALYTICS_DB_PATH, else analytics.db in the cache folder)",
    )
    p.add_argument("--hours", type=float, default=24.0, help="how far back to look (default 24)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    db = (args.db or settings.analytics_db_path).expanduser()
    if args.hours <= 0:
        raise ConfigError("--hours must be positive")
    if not db.is_file():
        raise ConfigError(f"no analytics database at {db}: run with ANALYTICS_BACKEND=sqlite first")
    rows = report(db, since_hours=args.hours)
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


def format_table(rows: list[ReportRow]) -> str:
    """Aligned columns; an explicit line when the window is empty (not a bare header)."""
    if not rows:
        return "no events in the window"
    width = max(len("name"), *(len(r.name) for r in rows))
    lines = [f"{'name':<{width}}  {'count':>8}  {'sum':>12}  {'avg':>12}  {'p95':>12}"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.count:>8}  {r.sum:>12.6g}  {r.avg:>12.6g}  {r.p95:>12.6g}")
    return "\n".join(lines)
