"""A tiny function app for the dev host tests: every trigger kind and route shape the host serves."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import azure.functions as func
from azure.functions.warmup import WarmUpContext

RECORD_SETTING = "DEVHOST_TEST_RECORD"  # a file that queue functions append one line to per call
_record_lock = threading.Lock()
WARMED: list[str] = []

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
items = func.Blueprint()


def _json(payload: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json")


def _record(line: str) -> None:
    with _record_lock, Path(os.environ[RECORD_SETTING]).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


@app.route(route="ping", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@items.route(route="items/{name}", methods=["GET", "PUT"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return _json(
        {
            "name": req.route_params["name"],
            "method": req.method,
            "body": req.get_body().decode(),
            "query": dict(req.params),
        }
    )


@app.route(route="files/{folder}/{file?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="orders/{id:guid}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def order(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("internal detail that must not reach the client")


@app.route(route="async-hello", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(f"hello {req.params.get('who', 'world')}", headers={"X-Async": "yes"})


@app.route(route="echo", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), mimetype="application/octet-stream")


@app.route(route="warmed", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def warmed(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return _json({"warmed": list(WARMED), "function": context.function_name})


@app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    _record(f"work {msg.dequeue_count} {body}")
    if body.startswith("sleep:"):  # sleep:<seconds>:<tag>
        time.sleep(float(body.split(":")[1]))
    if body.startswith("crash"):
        raise RuntimeError("crash requested")


@app.queue_trigger(arg_name="msg", queue_name="work-poison", connection="AzureWebJobsStorage")
def work_poison(msg: func.QueueMessage) -> None:
    _record(f"poison {msg.dequeue_count} {msg.get_body().decode()}")


@app.warm_up_trigger("warmup")
def warmup(warmup: WarmUpContext) -> None:
    WARMED.append("warmup")


app.register_functions(items)
