"""The analytics interface: backend choice, the registry bridge, and the sqlite sink and report."""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from toolweaver.errors import ConfigError
from toolweaver.observability import analytics
from toolweaver.observability.analytics import BACKENDS, Analytics, NullSink, RegistryBridge, open_sink
from toolweaver.observability.report import add_report_command, format_table
from toolweaver.observability.sink import AnalyticsSink, HistogramChange
from toolweaver.observability.sqlite_sink import SqliteSink, report
from toolweaver.settings import Settings


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ListSink:
    def __init__(self) -> None:
        self.records: list[tuple[str, float, dict[str, str]]] = []
        self.histograms: list[HistogramChange] = []
        self.gauges: list[tuple[str, float, dict[str, str]]] = []
        self.flushed = 0
        self.closed = False

    def record(self, name: str, value: float, attributes: object) -> None:
        self.records.append((name, value, dict(attributes)))  # type: ignore[call-overload]

    def record_histogram(self, change: HistogramChange) -> None:
        self.histograms.append(change)

    def record_gauge(self, name: str, value: float, attributes: object) -> None:
        self.gauges.append((name, value, dict(attributes)))  # type: ignore[call-overload]

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True


def rows(path: Path) -> list[tuple[float, str, float, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT ts, name, value, attributes FROM events ORDER BY ts, name"))


def test_a_bad_backend_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"ANALYTICS_BACKEND": "statsd"})
    for name in BACKENDS:
        assert name in str(err.value)


@pytest.mark.parametrize("env", [{}, {"ANALYTICS_BACKEND": "prometheus"}, {"ANALYTICS_BACKEND": " None "}])
def test_prometheus_and_none_need_no_extra_sink(env: dict[str, str]) -> None:
    assert isinstance(open_sink(Settings.from_env(env)), NullSink)


def test_otlp_without_an_endpoint_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        open_sink(Settings.from_env({"ANALYTICS_BACKEND": "otlp"}))


def test_sqlite_backend_writes_events_to_the_configured_file(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "a.db"
    sink = open_sink(Settings.from_env({"ANALYTICS_BACKEND": "sqlite", "ANALYTICS_DB_PATH": str(db)}))
    sink.record("toolweaver_tool_calls_total", 1, {"tool": "echo"})
    sink.record("toolweaver_search_seconds", 0.25, {})
    sink.close()
    got = rows(db)
    assert sorted((r[1], r[2], json.loads(r[3])) for r in got) == [
        ("toolweaver_search_seconds", 0.25, {}),
        ("toolweaver_tool_calls_total", 1.0, {"tool": "echo"}),
    ]


def test_sqlite_writes_in_batches_and_flushes_on_close(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sink = SqliteSink(db, batch_size=3)
    sink.record("x", 1, {})
    sink.record("x", 2, {})
    assert rows(db) == []  # buffered: below the batch size
    sink.record("x", 3, {})
    assert len(rows(db)) == 3  # the third record filled the batch
    sink.record("x", 4, {})
    sink.close()
    assert [r[2] for r in rows(db)] == [1, 2, 3, 4]
    sink.record("x", 5, {})  # after close: dropped, not raised
    assert len(rows(db)) == 4


def test_report_aggregates_the_last_day_only(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    clock = FakeClock()
    sink = SqliteSink(db, clock=clock)
    clock.now -= 25 * 3600
    sink.record("latency", 1000.0, {})  # older than a day: out of the report
    clock.now += 25 * 3600
    for v in range(1, 21):
        sink.record("latency", float(v), {})
    sink.record("calls_total", 2, {})
    sink.flush()
    got = {r.name: r for r in report(db, since_hours=24, now=clock.now)}
    assert set(got) == {"latency", "calls_total"}
    lat = got["latency"]
    assert (lat.count, lat.sum, lat.avg, lat.p95) == (20, 210.0, 10.5, 19.0)
    assert got["calls_total"].count == 1
    assert {r.name: r.count for r in report(db, since_hours=48, now=clock.now)}["latency"] == 21
    sink.close()
    assert "latency" in format_table(list(got.values()))


def test_sqlite_sink_is_thread_safe(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sink = SqliteSink(db, batch_size=7)
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        for i in range(250):
            sink.record(f"t{n}", float(i), {"i": str(i)})
            if i % 50 == 0:
                sink.flush()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    got = report(db, since_hours=1)
    assert sorted((r.name, r.count, r.sum) for r in got) == [
        (f"t{n}", 250, sum(range(250))) for n in range(4)
    ]


def test_the_bridge_sends_prometheus_deltas() -> None:
    registry = CollectorRegistry()
    calls = Counter("calls", "c", ["tool"], registry=registry)
    sink = ListSink()
    bridge = RegistryBridge(registry, sink)
    calls.labels("echo").inc(2)
    bridge.pump()
    assert sink.records == [("calls_total", 2.0, {"tool": "echo"})]
    sink.records.clear()
    assert bridge.pump() == 0  # nothing changed
    calls.labels("echo").inc()
    bridge.pump()
    assert sink.records == [("calls_total", 1.0, {"tool": "echo"})]


def test_the_bridge_sends_histograms_with_every_bucket_and_only_what_changed() -> None:
    registry = CollectorRegistry()
    latency = Histogram("lat_seconds", "l", ["route"], buckets=(0.1, 1.0), registry=registry)
    sink = ListSink()
    bridge = RegistryBridge(registry, sink)
    for value in (0.05, 0.5, 0.7, 3.0):
        latency.labels("search").observe(value)
    bridge.pump()
    assert sink.histograms == [
        HistogramChange("lat_seconds", {"route": "search"}, (0.1, 1.0), (1, 2, 1), 4, 4.25)
    ]
    assert sink.histograms[0].cumulative() == [("0.1", 1), ("1.0", 3), ("+Inf", 4)]
    sink.histograms.clear()
    latency.labels("search").observe(0.2)
    bridge.pump()
    assert [(c.counts, c.count) for c in sink.histograms] == [((0, 1, 0), 1)]
    sink.histograms.clear()
    assert bridge.pump() == 0 and sink.histograms == []


def test_the_bridge_sends_a_gauge_when_its_value_changes() -> None:
    registry = CollectorRegistry()
    health = Gauge("health", "h", ["skill"], registry=registry)
    sink = ListSink()
    bridge = RegistryBridge(registry, sink)
    health.labels("s").set(0.5)
    bridge.pump()
    bridge.pump()
    health.labels("s").set(0.75)
    bridge.pump()
    assert sink.gauges == [("health", 0.5, {"skill": "s"}), ("health", 0.75, {"skill": "s"})]


def test_every_sink_takes_every_kind_of_record(tmp_path: Path) -> None:
    for sink in (NullSink(), SqliteSink(tmp_path / "a.db"), ListSink()):
        assert isinstance(sink, AnalyticsSink)
        sink.close()


def test_the_sqlite_sink_keeps_histogram_buckets(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sink = SqliteSink(db)
    sink.record_histogram(HistogramChange("lat_seconds", {"route": "r"}, (0.1, 1.0), (1, 0, 2), 3, 7.5))
    sink.close()
    got = sorted((name, value, attrs) for _, name, value, attrs in rows(db))
    assert got == [
        ("lat_seconds_bucket", 1.0, '{"le": "0.1", "route": "r"}'),
        ("lat_seconds_bucket", 3.0, '{"le": "+Inf", "route": "r"}'),
        ("lat_seconds_count", 3.0, '{"route": "r"}'),
        ("lat_seconds_sum", 7.5, '{"route": "r"}'),
    ]


def test_start_opens_once_and_shutdown_flushes(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    registry = CollectorRegistry()
    jobs = Counter("jobs", "j", registry=registry)
    hooks: list[object] = []
    env = {"ANALYTICS_BACKEND": "sqlite", "ANALYTICS_DB_PATH": str(db)}
    analytics.shutdown()  # another test's app may have started the process's analytics
    try:
        settings = Settings.from_env(env)
        first = analytics.start(settings, registry, at_exit=hooks.append)
        assert analytics.start(settings, registry, at_exit=hooks.append) is first
        assert hooks == [analytics.shutdown]
        jobs.inc(3)
        first.record("direct", 1.5)
    finally:
        analytics.shutdown()
    analytics.shutdown()  # twice is fine
    assert sorted((r.name, r.sum) for r in report(db)) == [("direct", 1.5), ("jobs_total", 3.0)]


def test_analytics_close_pumps_then_closes_the_sink() -> None:
    registry = CollectorRegistry()
    Counter("n", "n", registry=registry).inc()
    sink = ListSink()
    Analytics(sink, registry).close()
    assert sink.records == [("n_total", 1.0, {})] and sink.flushed == 1 and sink.closed


def test_report_command_prints_json_and_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.db"
    sink = SqliteSink(db)
    sink.record("calls_total", 4, {})
    sink.close()
    parser = argparse.ArgumentParser()
    add_report_command(parser.add_subparsers())
    args = parser.parse_args(["report", "--db", str(db), "--json"])
    assert args.handler(args, Settings()) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "calls_total", "count": 1, "sum": 4.0, "avg": 4.0, "p95": 4.0}
    ]
    args = parser.parse_args(["report", "--db", str(db)])
    assert args.handler(args, Settings()) == 0
    assert "calls_total" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="no analytics database"):
        missing = parser.parse_args(["report", "--db", str(tmp_path / "nope.db")])
        missing.handler(missing, Settings())
