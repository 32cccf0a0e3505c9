"""The daily snapshot: the timer function writes yesterday's figures as JSON to Blob Storage."""

from __future__ import annotations

import json
from datetime import date

from tests.app_functions import functions
from tests.unit.test_functions_http import call
from toolweaver.observability import snapshot
from toolweaver.services import Services


class Timer:
    """What the Functions host passes to a timer function (the parts it reads)."""

    past_due = False


def run_timer() -> None:
    (function,) = [f for f in functions() if f.get_function_name() == "daily_snapshot"]
    function.get_user_function()(Timer())


def test_the_timer_writes_yesterdays_snapshot_with_the_figures_since_the_last_one(services: Services) -> None:
    run_timer()  # a baseline: what earlier tests counted is not this day's
    call("tools_search", "POST", {"query": "weather"})
    call("tools_item", route={"name": "no.such.tool"})
    call("skills_item", "PUT", {"description": "Say hi", "code": "result = 'hi'"}, route={"name": "hi"})
    call("skills_ratings", "POST", {"rating": 4}, route={"name": "hi"})

    key = snapshot.write_daily_snapshot(services, today=date(2026, 11, 29))
    assert key == "snapshots/2026-11-28.json"
    document = json.loads(services.cache_store.get(key).data)
    assert document["date"] == "2026-11-28" and document["counters_since"] == "previous snapshot"
    assert document["counters"]["http_requests"] == {"200": 1.0, "404": 1.0, "201": 2.0}
    assert document["counters"]["skill_ratings"] == {"4": 1.0}
    assert document["catalog"]["tools"] >= 1
    assert document["skills"]["hi"]["ratings"] == 1


def test_the_timer_function_is_registered_daily_after_midnight() -> None:
    (function,) = [f for f in functions() if f.get_function_name() == "daily_snapshot"]
    binding = function.get_bindings_dict()["bindings"][0]
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "0 5 0 * * *"
