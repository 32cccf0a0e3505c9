"""The planner against the habits of real model servers, through ``Planner.plan`` over real HTTP.

Each server here refuses or bends a request the way one real server does (see
tests/servers/chat_server.py): llama-cpp-python's 500 for ``json_schema``, a FastAPI 422, a server
that ignores ``response_format`` and writes prose, a 2,048-token context window (refused as vLLM
does, or cut silently as llama-cpp-python does), a chat template with no system role, an Azure
reasoning deployment. What is checked: the plan still comes, the next request asks the right way
at once, and where no plan can come the error names the server's words and the setting to change.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tests.servers.chat_server import Behaviour, ChatServer, prompt_tokens, run_closing, running_chat_server
from toolweaver.catalog import Catalog, load_catalog
from toolweaver.errors import ConfigError, PlanningError
from toolweaver.planning.openai_chat import Modes, OpenAIChatModel, openai_compatible_chat_model
from toolweaver.planning.planner import Planner, PlanResult
from toolweaver.planning.prompt import INSTRUCTIONS, plan_messages
from toolweaver.settings import DEMO_CATALOG

PLAN = {
    "steps": [
        {"id": "s1", "tool": "days_between_dates", "arguments": {"start": "2026-11-28", "end": "2027-01-01"}}
    ],
    "output": "s1",
}
DATE_TOOLS = (
    "add_days_to_date",
    "calculate",
    "convert_units",
    "day_of_week",
    "days_between_dates",
    "echo",
    "get_time_in_timezone",
    "text_statistics",
)
REQUEST = "How many days from 2026-11-28 to 2027-01-01?"
TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def demo() -> Catalog:
    return load_catalog(DEMO_CATALOG)


@pytest.fixture
def tools(demo: Catalog) -> Catalog:
    return Catalog(demo.get(name) for name in DATE_TOOLS)


def serve(behaviour: Behaviour) -> Any:
    return running_chat_server(behaviour)


def chat_for(server: ChatServer, **modes: str) -> OpenAIChatModel:
    return openai_compatible_chat_model(
        base_url=server.url, model="local", timeout_s=10, modes=Modes(**modes)
    )


def plan(server: ChatServer, tools: Catalog, request: str = REQUEST, **modes: str) -> PlanResult:
    chat = chat_for(server, **modes)
    # The first tools in search order: days_between_dates is the best match, echo the worst.
    order = ["days_between_dates", "add_days_to_date", "day_of_week", "calculate", *DATE_TOOLS]
    ranked = [tools.get(name) for name in dict.fromkeys(order)]
    planner = Planner(chat, catalog=lambda: tools, find_tools=lambda r, k: ranked[:k], today=lambda: TODAY)
    return run_closing(chat, planner.plan(request))


def formats(server: ChatServer) -> list[str]:
    return [(sent.body.get("response_format") or {"type": "none"})["type"] for sent in server.history]


# --- response formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [pytest.param(500, id="llama-cpp-python-500"), pytest.param(422, id="422")]
)
def test_a_refused_json_schema_steps_down_to_json_mode_with_the_schema(status: int, tools: Catalog) -> None:
    with serve(Behaviour(refuse_formats=("json_schema",), refuse_status=status)) as server:
        server.enqueue(PLAN)
        server.enqueue(PLAN)
        first = plan(server, tools)
        second = plan(server, tools, "days from 2026-12-01 to 2027-01-01?")
        assert (
            first.plan_dict["steps"][0]["tool"]
            == second.plan_dict["steps"][0]["tool"]
            == "days_between_dates"
        )
        # One refusal, and the next plan asks for JSON mode at once (remembered for the process).
        assert formats(server) == ["json_schema", "json_object", "json_object"]
        schema = server.history[1].body["response_format"]["schema"]
        assert schema == server.history[0].body["response_format"]["json_schema"]["schema"]


def test_a_server_that_takes_no_json_mode_gets_plain_text_and_the_plan_comes_from_prose(
    tools: Catalog,
) -> None:
    with serve(Behaviour(refuse_formats=("json_schema", "json_object"))) as server:
        server.enqueue(f"I would do this:\n```json\n{json.dumps(PLAN)}\n```\nThat is all.")
        result = plan(server, tools)
        assert result.plan_dict["output"] == "s1"
        # json_schema, json_object with the schema, json_object without it, then no format at all.
        assert formats(server) == ["json_schema", "json_object", "json_object", "none"]
        assert "schema" in server.history[1].body["response_format"]
        assert "schema" not in server.history[2].body["response_format"]


def test_a_server_that_ignores_the_format_and_writes_prose_still_plans(tools: Catalog) -> None:
    with serve(Behaviour(prose=True)) as server:
        server.enqueue(PLAN)
        result = plan(server, tools)
        assert result.plan_dict["steps"][0]["arguments"] == PLAN["steps"][0]["arguments"]
        assert len(server.history) == 1 and not result.repaired


def test_a_forced_format_the_server_refuses_names_the_setting_and_the_servers_words(tools: Catalog) -> None:
    with serve(Behaviour(refuse_formats=("json_schema",))) as server:
        with pytest.raises(ConfigError) as caught:
            plan(server, tools, response_format="json_schema")
        message = str(caught.value)
        assert "PLANNER_RESPONSE_FORMAT" in message and "json_object or text" in message
        assert "Input should be 'text' or 'json_object'" in message  # what the server said
        assert "try again later" not in message
        assert len(server.history) == 1  # a refusal is not retried


@pytest.mark.parametrize(
    ("forced", "sent"),
    [("json_object", "json_object"), ("text", "none"), ("json_schema", "json_schema")],
)
def test_a_forced_format_is_what_every_request_asks_for(forced: str, sent: str, tools: Catalog) -> None:
    with serve(Behaviour()) as server:
        server.enqueue(PLAN)
        plan(server, tools, response_format=forced)
        assert formats(server) == [sent]


# --- instructions without a system role ----------------------------------------------------------


def test_a_template_without_a_system_role_gets_the_instructions_in_the_user_message(tools: Catalog) -> None:
    with serve(Behaviour(no_system_role=True)) as server:
        server.enqueue(PLAN)
        server.enqueue(PLAN)
        plan(server, tools)
        plan(server, tools, "days from 2026-12-01 to 2027-01-01?")
        refused, folded, again = server.history
        assert [m["role"] for m in refused.messages] == ["system", "user"]
        for sent in (folded, again):
            (user,) = sent.messages
            assert user["role"] == "user" and user["content"].startswith(INSTRUCTIONS)  # the stable prefix
        assert folded.messages[0]["content"].endswith("(Today is Sunday, 2026-11-01, UTC.)")


def test_instructions_role_user_never_sends_a_system_message(tools: Catalog) -> None:
    with serve(Behaviour()) as server:
        server.enqueue(PLAN)
        plan(server, tools, instructions_role="user")
        assert [m["role"] for m in server.history[0].messages] == ["user"]


def test_instructions_role_system_on_a_template_without_one_names_the_setting(tools: Catalog) -> None:
    with serve(Behaviour(no_system_role=True)) as server:
        with pytest.raises(ConfigError, match="PLANNER_INSTRUCTIONS_ROLE=user") as caught:
            plan(server, tools, instructions_role="system")
        assert "System role not supported" in str(caught.value)


# --- small context windows -----------------------------------------------------------------------


def prompt_size(tools: Catalog) -> int:
    return prompt_tokens(plan_messages(list(tools), REQUEST, TODAY))


def test_a_window_that_refuses_prompt_plus_max_tokens_gets_a_smaller_budget(tools: Catalog) -> None:
    window = prompt_size(tools) + 600  # room for a plan, not for the default budget
    with serve(Behaviour(context_tokens=window)) as server:
        server.enqueue(PLAN)
        result = plan(server, tools)
        assert result.tools == sorted(DATE_TOOLS)  # every tool still offered
        refused, accepted = server.history
        assert refused.body["max_tokens"] > 600
        assert prompt_tokens(accepted.messages) + accepted.body["max_tokens"] <= window
        assert accepted.body["max_tokens"] >= 512  # half the plan budget: room for a repair too


@pytest.mark.parametrize("style", ["reject", "truncate"])
def test_a_window_too_small_for_all_tools_gets_the_best_ranked_that_fit(style: str, tools: Catalog) -> None:
    # Like llama.cpp's servers' default 2,048 tokens for these eight tools with a real tokenizer:
    # the prompt fits, with too little room left for a plan.
    window = prompt_size(tools) + 100
    with serve(Behaviour(context_tokens=window, context_style=style)) as server:
        if style == "truncate":
            server.enqueue(json.dumps(PLAN) * 40)  # cut where the window ends, finish_reason "length"
        server.enqueue(PLAN)
        result = plan(server, tools)
        assert "days_between_dates" in result.tools and len(result.tools) < len(DATE_TOOLS)
        assert result.plan_dict["steps"][0]["tool"] == "days_between_dates"
        first, last = server.history[0], server.history[-1]  # did not fit (refused or cut); did
        assert len(first.messages[0]["content"]) > len(last.messages[0]["content"])
        assert prompt_tokens(last.messages) <= window - 512  # room left for the plan and a repair


def test_a_repair_round_too_big_for_the_window_goes_without_the_copy_of_the_answer(tools: Catalog) -> None:
    window = prompt_size(tools) + 600
    wrong = {"steps": [{"id": "s1", "tool": "nope", "arguments": {}}], "description": "x" * 1200}
    with serve(Behaviour(context_tokens=window)) as server:
        server.enqueue(wrong)
        server.enqueue(PLAN)
        result = plan(server, tools)
        assert result.repaired and result.plan_dict["steps"][0]["tool"] == "days_between_dates"
        last = server.history[-1]
        assert [m["role"] for m in last.messages] == ["system", "user"]  # no copy of the answer
        assert "Your last plan cannot run" in last.messages[-1]["content"]
        assert "unknown tool 'nope'" in last.messages[-1]["content"]
        echoed = [sent for sent in server.history if any(m["role"] == "assistant" for m in sent.messages)]
        assert len(echoed) == 1  # the repair with the copy was tried first, and refused


def test_a_window_too_small_for_one_tool_names_the_settings_and_server_options(tools: Catalog) -> None:
    with serve(Behaviour(context_tokens=600)) as server:
        with pytest.raises(ConfigError) as caught:
            plan(server, tools)
        message = str(caught.value)
        for needle in ("PLANNER_TOP_K", "--n_ctx", "--max-model-len", "context window of 600 tokens"):
            assert needle in message, message
        assert "try again later" not in message


# --- Azure OpenAI reasoning deployments ----------------------------------------------------------


def test_a_reasoning_deployment_gets_max_completion_tokens_and_its_default_temperature(
    tools: Catalog,
) -> None:
    with serve(Behaviour(reasoning=True)) as server:
        server.enqueue(PLAN)
        server.enqueue(PLAN)
        plan(server, tools)
        plan(server, tools, "days from 2026-12-01 to 2027-01-01?")
        *_, accepted, again = server.history
        for sent in (accepted, again):
            assert "max_tokens" not in sent.body and sent.body["max_completion_tokens"] > 1024
            assert "temperature" not in sent.body
        assert len(server.history) == 4  # two refusals, learned once


# --- answers cut at the token limit ---------------------------------------------------------------


def test_an_answer_cut_at_the_budget_is_repaired_with_that_said(tools: Catalog) -> None:
    with serve(Behaviour()) as server:
        text = json.dumps(PLAN)
        server.enqueue(text[:40], finish_reason="length", usage={"completion_tokens": 1024})
        server.enqueue(PLAN)
        result = plan(server, tools)
        assert result.repaired
        feedback = server.history[1].messages[-1]["content"]
        assert "stopped at the token limit (1024 tokens)" in feedback


def test_a_plan_the_tools_cannot_do_may_leave_output_empty(tools: Catalog) -> None:
    with serve(Behaviour()) as server:
        server.enqueue({"steps": [], "output": "", "cannot_plan": "No listed tool books flights."})
        with pytest.raises(PlanningError, match="No listed tool books flights"):
            plan(server, tools, "Book a flight to Oslo")
        server.enqueue({"steps": PLAN["steps"], "output": ""})  # "": the last step's output
        assert plan(server, tools, "days, please").plan.result_step == "s1"
