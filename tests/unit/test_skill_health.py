"""Skill health: the documented score formula, and the shared stats record under concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from toolweaver.skill_health import WEIGHTS, SkillStats, SkillStatsStore
from toolweaver.storage.filesystem import FileSystemBlobStore

DAY = 86400.0


def test_a_new_skill_scores_from_its_priors_only() -> None:
    health = SkillStats().health(now=10 * DAY)
    assert health["parts"] == {"success": 0.5, "rating": 0.5, "recency": 0.0, "speed": 0.5}
    assert health["score"] == pytest.approx(0.4 * 0.5 + 0.3 * 0.5 + 0.15 * 0.0 + 0.15 * 0.5, abs=1e-3)
    assert health["runs"] == 0 and health["success_rate"] is None and health["mean_rating"] is None


def test_each_part_follows_the_documented_formula() -> None:
    stats = SkillStats()
    for ok in (True, True, True, False):
        stats = stats.with_run(ok, 1000.0, now=0.0)
    for rating in (5, 5, 4):
        stats = stats.with_rating(rating)
    health = stats.health(now=7 * DAY)  # one half-life after the last run
    assert health["parts"]["success"] == pytest.approx((3 + 1) / (4 + 2), abs=1e-3)
    assert health["parts"]["rating"] == pytest.approx(((14 + 6) / 5 - 1) / 4, abs=1e-3)
    assert health["parts"]["recency"] == pytest.approx(0.5, abs=1e-3)
    assert health["parts"]["speed"] == pytest.approx(0.5, abs=1e-3)  # one second
    expected = sum(WEIGHTS[name] * value for name, value in health["parts"].items())
    assert health["score"] == pytest.approx(expected, abs=2e-3)
    assert health["success_rate"] == 0.75 and health["mean_rating"] == pytest.approx(4.67, abs=0.01)


def test_better_skills_score_higher() -> None:
    good = SkillStats().with_run(True, 50, now=0).with_rating(5)
    bad = SkillStats().with_run(False, 5000, now=0).with_rating(1)
    assert good.health(now=DAY)["score"] > bad.health(now=DAY)["score"]
    assert good.health(now=DAY)["score"] > good.health(now=60 * DAY)["score"]  # unused: fades


def test_latency_is_a_moving_mean_that_starts_at_the_first_run() -> None:
    stats = SkillStats().with_run(True, 100, now=0)
    assert stats.latency_ms == 100
    assert stats.with_run(True, 200, now=0).latency_ms == pytest.approx(120)


def test_concurrent_ratings_and_runs_are_all_counted(tmp_path: Path) -> None:
    store = SkillStatsStore(FileSystemBlobStore(tmp_path))
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for _ in range(5):
            if n % 2:
                store.rate("greet", 4)
            else:
                store.record_run("greet", True, 10.0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = store.get("greet")
    assert stats.ratings == 20 and stats.rating_sum == 80 and stats.runs == 20


def test_delete_forgets_the_stats(tmp_path: Path) -> None:
    store = SkillStatsStore(FileSystemBlobStore(tmp_path))
    store.rate("greet", 2)
    store.delete("greet")
    store.delete("greet")  # twice is fine
    assert store.get("greet") == SkillStats()
