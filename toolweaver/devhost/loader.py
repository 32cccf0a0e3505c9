"""Load a Python v2 function app the way the worker indexes it, and read its host.json.

The worker imports ``function_app.py`` with the app's folder on ``sys.path``, takes the one
``FunctionApp`` instance in it and asks it for ``get_functions()``. Each function is reduced here to
a :class:`FunctionSpec` with plain values (enums become their strings), so the hosts need no
knowledge of the decorator classes.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions.decorators.function_app import FunctionRegister

from toolweaver.devhost.settings_file import read_json_object
from toolweaver.errors import ConfigError
from toolweaver.settings import REPO_DIR

logger = logging.getLogger(__name__)

DEFAULT_APP = REPO_DIR / "function_app.py"
DEFAULT_ROUTE_PREFIX = "api"
HTTP_TRIGGER = "httpTrigger"
QUEUE_TRIGGER = "queueTrigger"
WARMUP_TRIGGER = "warmupTrigger"
TIMER_TRIGGER = "timerTrigger"
CONTEXT_ARG = "context"  # the worker passes the invocation context to a parameter of this name


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    trigger_type: str
    trigger: Mapping[str, Any]  # the trigger binding as in function.json, plain values
    func: Callable[..., Any]
    arg_name: str
    is_async: bool
    wants_context: bool
    directory: Path

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel") or "function").lower()

    @property
    def route(self) -> str:
        return str(self.trigger.get("route") or self.name)

    @property
    def methods(self) -> tuple[str, ...] | None:
        methods = self.trigger.get("methods")
        return tuple(str(m).upper() for m in methods) if methods else None


@dataclass(frozen=True)
class LoadedApp:
    path: Path
    module: ModuleType
    functions: tuple[FunctionSpec, ...]
    host_config: Mapping[str, Any]
    auth_level: str

    @property
    def route_prefix(self) -> str:
        http = _section(self.host_config, "extensions", "http")
        prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX)
        return str(prefix if prefix is not None else DEFAULT_ROUTE_PREFIX).strip("/")

    @property
    def queue_config(self) -> Mapping[str, Any]:
        return _section(self.host_config, "extensions", "queues")

    def of_type(self, trigger_type: str) -> list[FunctionSpec]:
        return [f for f in self.functions if f.trigger_type == trigger_type]


def _section(config: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    node: Any = config
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def read_host_json(folder: Path) -> dict[str, Any]:
    """The app's host.json; an empty configuration when there is none."""
    path = folder / "host.json"
    return read_json_object(path) if path.is_file() else {}


def load_app(path: Path | str | None = None) -> LoadedApp:
    """Import the app file afresh and index its functions."""
    app_path = Path(path or DEFAULT_APP).resolve()
    if not app_path.is_file():
        raise ConfigError(f"function app not found: {app_path}")
    host_config = read_host_json(app_path.parent)
    module = _import(app_path)
    registers = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if len(registers) != 1:
        found = "no" if not registers else f"{len(registers)}"
        raise ConfigError(f"{app_path}: expected one FunctionApp instance at module level, found {found}")
    app = registers[0]
    functions = tuple(_spec(f, app_path.parent) for f in app.get_functions())
    return LoadedApp(app_path, module, functions, host_config, _plain(app.auth_level).lower())


def _import(app_path: Path) -> ModuleType:
    # Like the worker: the app folder goes on sys.path so the app's own imports resolve.
    folder = str(app_path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = app_path.stem
    spec = importlib.util.spec_from_file_location(name, app_path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {app_path}")
    module = importlib.util.module_from_spec(spec)
    # Executed fresh every time: get_functions() can be asked only once per FunctionApp instance.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _spec(function: Any, directory: Path) -> FunctionSpec:
    name = str(function.get_function_name())
    trigger = function.get_trigger()
    raw = trigger.get_dict_repr() if trigger is not None else {}
    plain = {k: _plain(v) for k, v in raw.items() if k != "direction"}
    user_function = function.get_user_function()
    arg_name = str(plain.get("name") or "")
    params = inspect.signature(user_function).parameters
    unbound = [
        p
        for p in params.values()
        if p.name not in (arg_name, CONTEXT_ARG)
        and p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if arg_name and arg_name not in params:
        raise ConfigError(f"function {name!r}: the trigger argument {arg_name!r} is not a parameter")
    if unbound:
        raise ConfigError(
            f"function {name!r}: parameter {unbound[0].name!r} needs a binding the dev host does not "
            "provide (it passes the trigger argument and `context` only)"
        )
    return FunctionSpec(
        name=name,
        trigger_type=str(plain.get("type", "")),
        trigger=plain,
        func=user_function,
        arg_name=arg_name,
        is_async=inspect.iscoroutinefunction(user_function),
        wants_context=CONTEXT_ARG in params,
        directory=directory,
    )
