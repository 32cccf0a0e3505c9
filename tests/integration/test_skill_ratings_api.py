"""Skill ratings and health through the HTTP functions, with skill runs in the real sandbox."""

from __future__ import annotations

from tests.unit.test_functions_http import assert_problem, call, payload
from toolweaver.observability.metrics import REGISTRY
from toolweaver.services import Services

GREET = {
    "description": "Greet a person by name",
    "code": "r = await echo(text='Hello, ' + args['name'])\nresult = r['text']",
}


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_runs_and_ratings_feed_the_health_score(services: Services) -> None:
    assert call("skills_item", "PUT", GREET, route={"name": "greet"}).status_code == 201
    fresh = payload(call("skills_item", route={"name": "greet"}))["health"]
    assert fresh["runs"] == 0 and fresh["ratings"] == 0

    before = sample("toolweaver_skill_runs_total", {"skill": "greet", "status": "succeeded"})
    outcome = payload(call("runs", "POST", {"program": "result = await greet(name='Ada')"}))
    assert outcome["status"] == "succeeded"
    assert sample("toolweaver_skill_runs_total", {"skill": "greet", "status": "succeeded"}) == before + 1

    rated = call("skills_ratings", "POST", {"rating": 5}, route={"name": "greet"})
    assert rated.status_code == 201
    health = payload(rated)["health"]
    assert health["runs"] == 1 and health["success_rate"] == 1.0 and health["mean_rating"] == 5
    assert health["mean_latency_ms"] > 0 and health["last_used"]
    assert health["score"] > fresh["score"]
    assert sample("toolweaver_skill_health_score", {"skill": "greet"}) == health["score"]
    assert sample("toolweaver_skill_ratings_total", {"skill": "greet", "rating": "5"}) >= 1


def test_bad_ratings_are_422_and_unknown_skills_404(services: Services) -> None:
    call("skills_item", "PUT", GREET, route={"name": "greet"})
    for body in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 4.5}, {}, {"rating": 3, "x": 1}):
        assert_problem(call("skills_ratings", "POST", body, route={"name": "greet"}), 422)
    assert_problem(call("skills_ratings", "POST", {"rating": 3}, route={"name": "nobody"}), 404)
    assert_problem(call("skills_ratings", "POST", {"rating": 3}, route={"name": "echo"}), 404)  # a tool
    assert payload(call("skills_item", route={"name": "greet"}))["health"]["ratings"] == 0  # none counted


def test_deleting_a_skill_forgets_its_ratings(services: Services) -> None:
    call("skills_item", "PUT", GREET, route={"name": "greet"})
    call("skills_ratings", "POST", {"rating": 1}, route={"name": "greet"})
    call("skills_item", "DELETE", route={"name": "greet"})
    call("skills_item", "PUT", GREET, route={"name": "greet"})
    assert payload(call("skills_item", route={"name": "greet"}))["health"]["ratings"] == 0
