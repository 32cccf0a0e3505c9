"""The azuremonitor backend against an ingestion endpoint on loopback (HTTPS, as Entra ID sign-in
requires): metrics and spans arrive as Application Insights envelopes, with a bearer token."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, Histogram

from toolweaver.observability import logs, tracing
from toolweaver.observability.analytics import Analytics, open_sink
from toolweaver.settings import Settings

pytest.importorskip("azure.monitor.opentelemetry.exporter")

IKEY = "00000000-0000-4000-8000-000000000001"


class Credential:
    """A TokenCredential that hands out one token and remembers the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("entra-token", int(time.time()) + 3600)


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class Ingestion:
    """Collects every envelope POSTed to /v2.1/track, with the Authorization header it came with."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str | None, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        ingestion = self

        class Track(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                with ingestion.lock:
                    for envelope in json.loads(body):
                        ingestion.envelopes.append((self.headers.get("authorization"), envelope))
                answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return None

        return Track


@pytest.fixture
def ingestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ingestion, str]]:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    received = Ingestion()
    server = ThreadingHTTPServer(("127.0.0.1", 0), received.handler())
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # trust our certificate, for this test only
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")  # no calls to Microsoft
    monkeypatch.setenv("APPLICATIONINSIGHTS_SDKSTATS_DISABLED", "true")  # no exporter self-reports at exit
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")
    try:
        yield received, f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_and_spans_reach_application_insights_signed_in_with_entra_id(
    ingestion: tuple[Ingestion, str],
) -> None:
    received, endpoint = ingestion
    connection = f"InstrumentationKey={IKEY};IngestionEndpoint={endpoint}"
    settings = Settings.from_env(
        {"ANALYTICS_BACKEND": "azuremonitor", "APPLICATIONINSIGHTS_CONNECTION_STRING": connection}
    )
    credential = Credential()
    sink = open_sink(settings, credential=credential)
    try:
        sink.record("toolweaver_tool_calls_total", 3, {"tool": "echo"})
        with tracing.span("job", attributes={"toolweaver.job_id": "j-1"}):
            pass
        provider = tracing.provider()
        assert provider is not None and provider.force_flush()
        sink.flush()
    finally:
        provider = tracing.provider()
        tracing.install(None)
        if provider is not None:
            provider.shutdown()
        sink.close()

    assert credential.scopes and credential.scopes[0] == ("https://monitor.azure.com//.default",)
    assert received.envelopes and {auth for auth, _ in received.envelopes} == {"Bearer entra-token"}
    metrics = [e for _, e in received.envelopes if e["name"].endswith("Metric")]
    points = [(m["data"]["baseData"]["metrics"][0], m["data"]["baseData"]["properties"]) for m in metrics]
    assert any(
        p["name"] == "toolweaver_tool_calls_total" and p["value"] == 3 and a == {"tool": "echo"}
        for p, a in points
    )
    spans = [e["data"]["baseData"] for _, e in received.envelopes if e["name"].endswith("RemoteDependency")]
    assert any(s["name"] == "job" and s["properties"]["toolweaver.job_id"] == "j-1" for s in spans)
    assert all(e["iKey"] == IKEY for _, e in received.envelopes)


def open_analytics(endpoint: str, registry: CollectorRegistry) -> Analytics:
    connection = f"InstrumentationKey={IKEY};IngestionEndpoint={endpoint}"
    settings = Settings.from_env(
        {"ANALYTICS_BACKEND": "azuremonitor", "APPLICATIONINSIGHTS_CONNECTION_STRING": connection}
    )
    return Analytics(open_sink(settings, credential=Credential()), registry, backend="azuremonitor")


def close_analytics(analytics: Analytics) -> None:
    provider = tracing.provider()
    tracing.install(None)
    if provider is not None:
        provider.shutdown()
    analytics.close()


def test_histograms_arrive_as_deltas_with_a_bucket_series_for_percentiles(
    ingestion: tuple[Ingestion, str],
) -> None:
    received, endpoint = ingestion
    registry = CollectorRegistry()
    latency = Histogram("toolweaver_probe_seconds", "p", buckets=(0.1, 1.0), registry=registry)
    analytics = open_analytics(endpoint, registry)
    try:
        for value in (0.05, 0.5, 0.7):
            latency.observe(value)
        analytics.flush()
        latency.observe(5.0)
        analytics.flush()
    finally:
        close_analytics(analytics)
    points = [
        (e["data"]["baseData"]["metrics"][0], e["data"]["baseData"]["properties"])
        for _, e in received.envelopes
        if e["name"].endswith("Metric")
    ]
    sums = [(p["value"], p["count"]) for p, _ in points if p["name"] == "toolweaver_probe_seconds"]
    assert sums == [(pytest.approx(1.25), 3), (pytest.approx(5.0), 1)]  # delta: each export its own
    buckets = [(a["le"], p["value"]) for p, a in points if p["name"] == "toolweaver_probe_seconds_bucket"]
    assert buckets == [("0.1", 1), ("1.0", 3), ("+Inf", 3), ("+Inf", 1)]


def test_log_records_arrive_with_the_ids_as_custom_dimensions(ingestion: tuple[Ingestion, str]) -> None:
    received, endpoint = ingestion
    logs.configure("json")
    analytics = open_analytics(endpoint, CollectorRegistry())
    app_log = logging.getLogger("toolweaver.test.export")
    app_log.setLevel(logging.INFO)
    try:
        with logs.bound(logs.REQUEST_ID, "req-42"), logs.bound(logs.JOB_ID, "0" * 32):
            app_log.info("job step %d done", 3)
    finally:
        close_analytics(analytics)
        app_log.setLevel(logging.NOTSET)
    assert logs.SETUP.exporter is None  # closing the backend takes its handler off
    messages = [e["data"]["baseData"] for _, e in received.envelopes if e["name"].endswith("Message")]
    ours = [m for m in messages if m["message"] == "job step 3 done"]
    assert len(ours) == 1
    assert ours[0]["severityLevel"] == 1  # Information
    dimensions = ours[0]["properties"]
    assert dimensions["request_id"] == "req-42" and dimensions["job_id"] == "0" * 32
    assert dimensions["logger"] == "toolweaver.test.export"


def test_without_a_connection_string_it_says_what_to_set() -> None:
    with pytest.raises(Exception, match="APPLICATIONINSIGHTS_CONNECTION_STRING"):
        open_sink(Settings.from_env({"ANALYTICS_BACKEND": "azuremonitor"}), credential=Credential())
