"""The planner's prompt as a figure: tokens for 8 offered tools and for catalogs offered whole.

Counts with an offline BPE tokenizer (bench/_tokens.py: o200k_base), for the prompt as shipped
and, beside it, the prompt of the baseline commit (one JSON line of raw JSON Schema per tool,
instructions with placeholders), read from git. The 8 offered tools are the planner's own pick:
hybrid search with the shipped ONNX model over the demo catalog, for each request below.

Writes its section of bench/RESULTS.md between ``<!-- planner-prompt:start -->`` and
``<!-- planner-prompt:end -->``.

    .venv/bin/python bench/planner_prompt.py [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess  # nosec B404 - runs git on this checkout only
import sys
import types
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))

from _provenance import run_header  # noqa: E402 - bench/ is sys.path[0] when run as a script
from _sections import replace_section  # noqa: E402
from _tokens import ENCODING, count_tokens  # noqa: E402

from toolweaver.catalog import Catalog, Tool, load_catalog  # noqa: E402
from toolweaver.planning import prompt, schema  # noqa: E402
from toolweaver.settings import DEMO_CATALOG, Settings  # noqa: E402

SECTION = "planner-prompt"
BASELINE = "c018fa1"  # the commit before the prompt was rewritten for small models
TODAY = date(2026, 11, 28)
REQUESTS = (
    "How many days from 2026-11-28 to 2027-01-01?",
    "How many miles is 10 km?",
    "What is 15 * 26 + 5?",
    "What day of the week is 2026-11-29?",
    "How many words are in 'the quick brown fox'?",
    "Email Dana the invoice total for Contoso and book a call with her tomorrow at 10",
    "Is it raining in Berlin, and what time is it there?",
    "Open a support ticket for the login outage and tell the team channel",
)
Messages = Callable[[Sequence[Tool], str, date], list[dict[str, Any]]]


def baseline_prompt() -> types.ModuleType | None:
    """The baseline commit's prompt module, or None outside a git checkout."""
    try:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BASELINE}:toolweaver/planning/prompt.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("baseline_prompt")
    exec(compile(source, "baseline_prompt.py", "exec"), module.__dict__)  # noqa: S102 # nosec B102 - our own history
    return module


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(count_tokens(str(message["content"])) for message in messages)


def offered_by_search(catalog: Catalog, top_k: int) -> dict[str, list[Tool]]:
    from toolweaver.search.service import SearchService
    from toolweaver.storage import FileSystemBlobStore

    settings = Settings.from_env()
    engine, _ = SearchService(settings, FileSystemBlobStore(settings.index_cache_dir)).engine(
        catalog, source="bench"
    )
    return {request: [hit.tool for hit in engine.search(request, top_k=top_k)] for request in REQUESTS}


def row(label: str, sets: Sequence[Sequence[Tool]], new: Messages, old: Messages | None) -> str:
    """One table row: the median over the tool sets, each with its own request."""

    def median(build: Messages) -> float:
        return statistics.median(
            prompt_tokens(build(tools, request, TODAY))
            for tools, request in zip(sets, REQUESTS, strict=False)
        )

    tools_new = statistics.median(
        sum(count_tokens(prompt.describe_tool(tool)) for tool in tools) / len(tools) for tools in sets
    )
    schema_chars = statistics.median(len(str(schema.plan_schema(tools))) for tools in sets)
    now = median(new)
    before = f"{median(old):,.0f}" if old is not None else "n/a"
    change = f"{(now / median(old) - 1) * 100:+.0f}%" if old is not None else "n/a"
    return f"| {label} | {now:,.0f} | {before} | {change} | {tools_new:.0f} | {schema_chars:,.0f} |"


def report(
    catalog: Catalog, offered: dict[str, list[Tool]], old: types.ModuleType | None, header: list[str]
) -> str:
    new_messages: Messages = prompt.plan_messages
    old_messages: Messages | None = old.plan_messages if old is not None else None
    by_name = sorted(catalog, key=lambda tool: tool.name)
    full_max = Settings().planner_full_catalog_max
    rows = [
        row(f"8 tools offered (search top 8; median of {len(offered)} requests)", list(offered.values()),
            new_messages, old_messages),
        row(f"{full_max} tools offered whole (a catalog at PLANNER_FULL_CATALOG_MAX)", [by_name[:full_max]],
            new_messages, old_messages),
        row(f"the whole demo catalog ({len(catalog)} tools)", [by_name], new_messages, old_messages),
    ]  # fmt: skip
    per_tool = [count_tokens(prompt.describe_tool(tool)) for tool in catalog]
    per_tool_old = [count_tokens(old.describe_tool(tool)) for tool in catalog] if old is not None else []
    instructions = count_tokens(prompt.INSTRUCTIONS)
    lines = [
        "## Planner prompt",
        "",
        *header,
        f"- **Tokenizer**: {ENCODING} (bpe-openai, offline); other models' tokenizers differ by some "
        "percent (Gemma 3's counts, from llama-cpp-python's server, are in the next section)",
        f"- **Baseline**: commit {BASELINE} (tools as raw JSON Schema lines, placeholder format block)",
        "",
        "Tokens of the whole planning prompt (instructions, tool listing, request and date):",
        "",
        "| offered | tokens now | tokens before | change | tokens per tool now | plan schema chars |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"- **Instructions** (the fixed prefix, one worked example included): {instructions} tokens"
        + (f", before {count_tokens(old.INSTRUCTIONS)}" if old is not None else ""),
        f"- **Per tool** over the demo catalog: median {statistics.median(per_tool):.0f}, "
        f"max {max(per_tool)} ({max(catalog, key=lambda t: count_tokens(prompt.describe_tool(t))).name})"
        + (
            f"; before median {statistics.median(per_tool_old):.0f}, max {max(per_tool_old)}"
            if per_tool_old
            else ""
        ),
        "- **Plan schema chars**: the per-request JSON Schema sent as structured output (and as the "
        "grammar of JSON mode to llama.cpp's servers); it is not part of the prompt's tokens.",
        "- A 2,048-token window (llama.cpp's servers' default) holds the 8-tool prompt with little room "
        "for a plan; the planner then offers the best-ranked tools that leave 768 tokens free.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    catalog = load_catalog(DEMO_CATALOG)
    offered = offered_by_search(catalog, Settings().planner_top_k)
    header = run_header("bench/planner_prompt.py", list(argv or []), load)
    markdown = report(catalog, offered, baseline_prompt(), header)
    replace_section(args.out, SECTION, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
