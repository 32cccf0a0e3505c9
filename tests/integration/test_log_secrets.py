"""No log record carries a secret: a search and a job against Azurite, signed in with the account
key and with a SAS, called with a function key and a bearer token, logged at every level.

Every record any logger makes is kept (the root logger at DEBUG, as a debugging operator might
set it), then read as text the way each handler would write it.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote

import azure.functions as func
import pytest
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

from tests.app_functions import functions
from tests.fakes import FakeEmbedder
from toolweaver.devhost.azurite import ACCOUNT, Azurite
from toolweaver.functions import runtime
from toolweaver.observability import logs
from toolweaver.services import Services
from toolweaver.settings import Settings

pytestmark = pytest.mark.azurite

FUNCTIONS = {f.get_function_name(): f.get_user_function() for f in functions()}
FUNCTION_KEY = secrets.token_urlsafe(24)
BEARER = "eyJ" + secrets.token_urlsafe(40)


class KeepAll(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def every_record() -> Iterator[KeepAll]:
    handler = KeepAll()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logs.configure("json")
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def sas_connection(azurite: Azurite) -> tuple[str, str]:
    """A connection string that signs in with an account SAS, and the SAS's signature."""
    sas = generate_account_sas(
        ACCOUNT,
        azurite.endpoints.account_key,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True, process=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=1),
        services="bq",
    )
    connection = (
        f"BlobEndpoint={azurite.endpoints.blob_url};QueueEndpoint={azurite.endpoints.queue_url};"
        f"SharedAccessSignature={sas}"
    )
    return connection, parse_qs(sas)["sig"][0]


def call(name: str, body: object | None = None, route: dict[str, str] | None = None) -> func.HttpResponse:
    request = func.HttpRequest(
        method="POST" if body is not None else "GET",
        url=f"http://localhost/api/{name}",
        headers={
            "Content-Type": "application/json",
            "x-functions-key": FUNCTION_KEY,
            "Authorization": f"Bearer {BEARER}",
        },
        params={"code": FUNCTION_KEY},
        route_params=route or {},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    response: func.HttpResponse = FUNCTIONS[name](request)
    return response


def search_and_job(connection: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(cache_container=f"secrets-cache-{suffix}", jobs_container=f"secrets-jobs-{suffix}")
    runtime.use(Services(settings, environ={"AzureWebJobsStorage": connection}, embedder=FakeEmbedder()))
    try:
        assert call("tools_search", {"query": "weather in Paris"}).status_code == 200
        created = call(
            "jobs_create", {"kind": "search", "input": {"queries": [{"query": "convert currencies"}]}}
        )
        assert created.status_code == 202, created.get_body()
        job_id = json.loads(created.get_body())["id"]
        FUNCTIONS["jobs_run"](func.QueueMessage(id="m1", body=job_id.encode()))
        done = json.loads(call("jobs_item", route={"id": job_id}).get_body())
        assert done["status"] == "succeeded"
    finally:
        runtime.use(None)


def as_written(record: logging.LogRecord) -> str:
    """Everything of a record a handler could write: message, arguments, extras, traceback."""
    parts = [record.getMessage(), repr(record.args), repr(vars(record))]
    parts += [formatter.format(record) for formatter in (logs.JsonFormatter(), logs.ForwardedFormatter())]
    return "\n".join(parts)


@pytest.mark.parametrize("auth", ["account-key", "sas"])
def test_no_log_record_carries_a_secret_or_a_token(
    azurite: Azurite, every_record: KeepAll, tmp_path: Path, auth: str
) -> None:
    key = azurite.endpoints.account_key
    if auth == "sas":
        connection, signature = sas_connection(azurite)
        forbidden = [signature, quote(signature, safe=""), connection.split("SharedAccessSignature=")[1]]
    else:
        connection, forbidden = azurite.connection_string, []
    forbidden += [key, FUNCTION_KEY, BEARER]
    search_and_job(connection, tmp_path)

    assert every_record.records, "the run logged nothing at all"
    for record in every_record.records:
        text = as_written(record)
        leaked = [secret[:6] + "..." for secret in forbidden if secret in text]
        assert not leaked, f"{record.name} {record.levelname} carries {leaked}"
    chatty = {
        r.name for r in every_record.records if r.name.startswith("azure") and r.levelno < logging.WARNING
    }
    assert chatty == set(), "the Azure SDK logged requests below WARNING"
