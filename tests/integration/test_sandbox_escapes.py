"""The escape suite: attack programs against LocalSandboxRunner, each of which must end contained.

Every attack runs twice: ``guarded`` (the AST pre-check on, as in production) and ``raw`` (the
pre-check off), because the pre-check is a courtesy and the child process is the boundary. For
every run: the canary (an environment variable of this process and a file) appears nowhere in
the outcome or in any tool argument, the loopback listener accepted nothing, no file appeared,
the wall time stayed within the timeout plus a margin, the status is the one in the table, and
the host (this process) still runs programs afterwards.

A few attacks end ``succeeded`` by nature (a forged result, an object that encodes as a plain
string, an environment dump): there the proof is the containment checks, not the status.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolweaver.execution.ports import RunLimits, RunOutcome
from toolweaver.execution.sandbox import LocalSandboxRunner

TIMEOUT_S = 1.5
HANG_S = 30.0  # far past any kill: only a run the parent never ends reaches it
TOOLS = ["echo", "slow"]


@dataclass(frozen=True)
class Attack:
    code: str
    guarded: str  # expected status with the AST pre-check
    raw: str  # expected status without it: the process boundary alone
    cpu_s: int = 10
    timeout_s: float = TIMEOUT_S
    calls_stop: bool = False  # tool calls must stop once the run has returned


def attack(name: str, code: str, guarded: str, raw: str | None = None, **options: Any) -> Any:
    return pytest.param(Attack(code, guarded, raw or guarded, **options), id=name)


# Shared fragments. In raw mode ``import os`` works (os is always loaded), so attacks use it.
WALK = (
    "for c in ().__class__.__base__.__subclasses__():\n"
    "    if c.__name__ == '_wrap_close':\n"
    "        g = c.__init__.__globals__\n"
)
CHANNEL = "import socket, struct, asyncio\nch = socket.socket(fileno=3)\nch.setblocking(True)\n"
EVIL = (
    "class Evil:\n"
    "    def __repr__(self):\n        raise SystemExit('repr ran in the host')\n"
    "    def __eq__(self, other):\n        raise SystemExit('eq ran in the host')\n"
    "    def __hash__(self):\n        raise SystemExit('hash ran in the host')\n"
    "    def __del__(self):\n        pass\n"
    "    def __reduce__(self):\n        raise SystemExit('reduce ran')\n"
)
LIBC = "import ctypes\nlibc = ctypes.CDLL(None)\n"

ATTACKS = [
    # -- object-graph walks ---------------------------------------------------------------
    attack(
        "og_subclasses_wrap_close",
        WALK + "fd = g['open']('@FILE@', 0)\nresult = g['read'](fd, 99)",
        "rejected",
        "error",
    ),
    attack(
        "og_getattr_computed_names",
        "d = '_' * 2\nbase = getattr(getattr((), d + 'class' + d), d + 'base' + d)\n"
        "subs = getattr(base, d + 'subclasses' + d)()\n"
        "g = [getattr(getattr(c, d + 'init' + d), d + 'globals' + d)\n"
        "     for c in subs if c.__name__ == '_wrap_close'][0]\n"
        "result = g['environ']['@NAME@']",
        "rejected",
        "error",
    ),
    attack(
        "og_vars_type_dict",
        "subs = vars(type)['__subclasses__'](object)\n"
        "g = [vars(c)['__init__'].__globals__ for c in subs if c.__name__ == '_wrap_close'][0]\n"
        "result = g['listdir']('@DIR@')",
        "rejected",
        "error",
    ),
    attack(
        "og_mro_then_system",
        "top = type(0).mro()[-1]\n"
        "g = [c.__init__.__globals__ for c in top.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
        "rc = g['system']('touch @DIR@/pwned')\nif rc != 0:\n    raise OSError(rc)",
        "rejected",
        "error",
    ),
    attack("og_builtins_from_len", "result = len.__self__.open('@FILE@').read()", "rejected", "error"),
    attack(
        "og_gc_finds_environ",
        "import gc\nenvs = [o for o in gc.get_objects() if isinstance(o, dict) and '@NAME@' in o]\n"
        "result = envs[0]['@NAME@']",
        "rejected",
        "error",
    ),
    attack(
        "og_match_class_pattern",
        "match ():\n    case object(__class__=c):\n        pass\n"
        "g = [s.__init__.__globals__\n"
        "     for s in c.__base__.__subclasses__() if s.__name__ == '_wrap_close'][0]\n"
        "result = g['open']('@FILE@', 0)",
        "rejected",
        "error",
    ),
    attack(
        "og_function_globals_builtins",
        "def f():\n    pass\nresult = f.__globals__['__builtins__'].open('@FILE@').read()",
        "rejected",
        "error",
    ),
    # -- frames -----------------------------------------------------------------------------
    attack(
        "frame_gi_frame",
        "def gen():\n    yield 1\ng = gen()\nnext(g)\n"
        "result = g.gi_frame.f_builtins['open']('@FILE@').read()",
        "rejected",
        "error",
    ),
    attack(
        "frame_tb_frame_f_back",
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    fr = e.__traceback__.tb_frame\n"
        "while fr.f_back is not None:\n    fr = fr.f_back\n"
        "result = fr.f_globals['sys'].modules['os'].environ['@NAME@']",
        "rejected",
        "error",
    ),
    attack(
        "frame_cr_frame",
        "async def co():\n    return 1\nc = co()\nb = c.cr_frame.f_builtins\nc.close()\n"
        "result = b['open']('/etc/passwd').read()",
        "rejected",
        "error",
    ),
    attack(
        "frame_ag_frame",
        "async def agen():\n    yield 1\na = agen()\nawait a.__anext__()\n"
        "result = a.ag_frame.f_globals['__builtins__'].open('@FILE@').read()",
        "rejected",
        "error",
    ),
    attack(
        "frame_asyncio_task_stack",
        "import asyncio\nfr = asyncio.current_task().get_stack()[0]\n"
        "while fr.f_back is not None:\n    fr = fr.f_back\n"
        "result = fr.f_globals['sys'].modules['os'].listdir('/')",
        "rejected",
        "error",
    ),
    # -- format strings ---------------------------------------------------------------------
    attack(
        "fmt_attribute_chain",
        "import random\nresult = '{0.__func__.__globals__[_os].environ[@NAME@]}'.format(random.seed)",
        "rejected",
        "error",
    ),
    attack(
        "fmt_format_map",
        "import random\n"
        "result = '{r.__func__.__globals__[_os].environ[@NAME@]}'.format_map({'r': random.seed})",
        "rejected",
        "error",
    ),
    attack(
        "fmt_f_string",
        "import random\nresult = f\"{random.seed.__func__.__globals__['_os'].environ['@NAME@']}\"",
        "rejected",
        "error",
    ),
    attack(
        "fmt_computed_field_dodges_precheck",
        "import random\nu = '_' * 2\n"
        "fmt = '{0.' + u + 'func' + u + '.' + u + 'globals' + u + '[_os].environ[@NAME@]}'\n"
        "result = fmt.format(random.seed)",
        "error",
        "error",
    ),
    attack("fmt_nested_spec", "result = '{0:{1.__class__}}'.format(1, 2)", "rejected", "error"),
    # -- modules re-exporting os/sys, import tricks ---------------------------------------------
    attack(
        "mod_collections_sys",
        "import collections\nresult = collections._sys.modules['os'].environ['@NAME@']",
        "rejected",
        "error",
    ),
    attack(
        "mod_asyncio_reexports_socket",
        "import asyncio\ns = asyncio.base_events.socket.socket()\ns.connect(('127.0.0.1', @PORT@))",
        "rejected",
        "error",
    ),
    attack("mod_random_os", "import random\nresult = random._os.environ['@NAME@']", "rejected", "error"),
    attack(
        "mod_json_codecs_open", "import json\nresult = json.codecs.open('@FILE@').read()", "rejected", "error"
    ),
    attack("mod_dunder_import", "result = __import__('os').environ['@NAME@']", "rejected", "error"),
    attack(
        "mod_importlib",
        "import importlib\nresult = importlib.import_module('os').listdir('@DIR@')",
        "rejected",
        "error",
    ),
    attack(
        "mod_builtins_open", "import builtins\nresult = builtins.open('@FILE@').read()", "rejected", "error"
    ),
    attack("mod_import_os", "import os\nresult = os.environ['@NAME@']", "rejected", "error"),
    attack(
        "mod_import_unloaded", "import sqlite3\nresult = sqlite3.connect('@DIR@/x.db')", "rejected", "error"
    ),
    # -- native code ------------------------------------------------------------------------
    attack(
        "native_ctypes_system",
        LIBC + "rc = libc.system(b'touch @DIR@/pwned')\nif rc != 0:\n    raise OSError(rc)",
        "rejected",
        "error",
    ),
    attack(
        "native_ctypes_open",
        LIBC + "fd = libc.open(b'@FILE@', 0)\nif fd < 0:\n    raise OSError('open failed')\n"
        "buf = ctypes.create_string_buffer(99)\nlibc.read(fd, buf, 99)\nresult = buf.value.decode()",
        "rejected",
        "error",
    ),
    attack(
        "native_ctypes_raw_socket",
        LIBC + "fd = libc.syscall(41, 2, 1, 0)\nif fd < 0:\n    raise OSError('socket failed')",
        "rejected",
        "error",
    ),
    attack(
        "native_ctypes_undo_seccomp",
        LIBC + "libc.prctl(22, 0, 0, 0, 0)\nlibc.prctl(38, 0, 0, 0, 0)\nresult = open('@FILE@').read()",
        "rejected",
        "error",
    ),
    attack("native_cffi", "import cffi\nffi = cffi.FFI()\nresult = ffi.dlopen(None)", "rejected", "error"),
    # -- deserialization --------------------------------------------------------------------
    attack(
        "deser_pickle_reduce",
        "import pickle\nresult = pickle.loads(b\"csubprocess\\ncheck_output\\n(S'id'\\ntR.\")",
        "rejected",
        "error",
    ),
    attack(
        "deser_marshal_code",
        "import marshal\n"
        "code = marshal.loads(marshal.dumps(compile(\"open('@FILE@').read()\", 'x', 'eval')))\n"
        "result = eval(code)",
        "rejected",
        "error",
    ),
    # -- threads and leftovers ----------------------------------------------------------------
    attack(
        "thread_start",
        "import threading\nthreading.Thread(target=print, daemon=True).start()",
        "rejected",
        "error",
    ),
    attack("thread_raw", "import _thread\n_thread.start_new_thread(print, ())", "rejected", "error"),
    attack(
        "thread_via_getnameinfo_dodges_precheck",
        "import asyncio\nresult = await asyncio.get_running_loop().getnameinfo(('127.0.0.1', 80))",
        "error",
        "error",
    ),
    attack(
        "task_outlives_run",
        "import asyncio\nasync def beat():\n    while True:\n        await echo(text='tick')\n"
        "        await asyncio.sleep(0.01)\nasyncio.ensure_future(beat())\nawait asyncio.sleep(0.05)\n"
        "result = 'returned'",
        "succeeded",
        "succeeded",
        calls_stop=True,
    ),
    # -- CPU --------------------------------------------------------------------------------
    attack("cpu_while_true", "while True:\n    pass", "timeout"),
    attack("cpu_regex_backtracking_in_c", "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", "timeout"),
    attack("cpu_bigint_in_c", "x = 7 ** (10 ** 8)", "timeout"),
    attack("cpu_limit", "while True:\n    pass", "killed", cpu_s=1, timeout_s=5.0),
    attack("cpu_sleep_in_c", "import time\ntime.sleep(1000)", "rejected", "timeout"),
    # -- memory -----------------------------------------------------------------------------
    attack("mem_bytearray", "x = bytearray(2 ** 34)", "error"),
    attack("mem_list_growth", "chunks = []\nwhile True:\n    chunks.append(bytes(10 ** 7))", "error"),
    attack("mem_str_repeat", "s = 'x' * (2 ** 40)", "error"),
    attack("mem_deep_recursion", "def f(n):\n    return f(n + 1)\nf(0)", "error"),
    # -- processes --------------------------------------------------------------------------
    attack("fork_os_fork", "import os\npid = os.fork()", "rejected", "error"),
    attack("fork_bomb_loop", "import os\nwhile True:\n    os.fork()", "rejected", "error"),
    attack("fork_subprocess", "import subprocess\nresult = subprocess.run(['id'])", "rejected", "error"),
    attack(
        "fork_asyncio_subprocess",
        "import asyncio\np = await asyncio.create_subprocess_exec('id')",
        "rejected",
        "error",
    ),
    attack(
        "fork_execv", "import os\nos.execv('/bin/sh', ['sh', '-c', 'touch @DIR@/pwned'])", "rejected", "error"
    ),
    # -- files ------------------------------------------------------------------------------
    attack("file_read_passwd", "result = open('/etc/passwd').read()", "rejected", "error"),
    attack("file_read_canary", "result = open('@FILE@').read()", "rejected", "error"),
    attack("file_write", "open('@DIR@/pwned', 'w').write('x')", "rejected", "error"),
    attack("file_write_cwd", "open('pwned', 'w').write('x')", "rejected", "error"),
    attack("file_listdir", "import os\nresult = os.listdir('@DIR@')", "rejected", "error"),
    attack("file_stat", "import os\nresult = os.stat('@FILE@').st_size", "rejected", "error"),
    # -- environment ------------------------------------------------------------------------
    attack(
        "env_dump_and_read",
        "import os\nprint(dict(os.environ))\nresult = os.environ['@NAME@']",
        "rejected",
        "error",
    ),
    attack("env_proc_self", "result = open('/proc/self/environ', 'rb').read().decode()", "rejected", "error"),
    attack(
        "env_proc_parent",
        "import os\nresult = open(f'/proc/{os.getppid()}/environ').read()",
        "rejected",
        "error",
    ),
    attack("env_proc_host", "result = open('/proc/@HOSTPID@/environ').read()", "rejected", "error"),
    attack("env_proc_host_mem", "result = open('/proc/@HOSTPID@/mem', 'rb').read(10)", "rejected", "error"),
    # -- network ----------------------------------------------------------------------------
    attack(
        "net_socket_connect",
        "import socket\ns = socket.create_connection(('127.0.0.1', @PORT@), timeout=1)\ns.sendall(b'hi')",
        "rejected",
        "error",
    ),
    attack(
        "net_asyncio_open_connection",
        "import asyncio\nr, w = await asyncio.open_connection('127.0.0.1', @PORT@)",
        "rejected",
        "error",
    ),
    attack(
        "net_datagram_dodges_precheck",
        "import asyncio\nloop = asyncio.get_running_loop()\n"
        "await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=('127.0.0.1', @PORT@))",
        "error",
        "error",
    ),
    # -- cancellation swallowing ------------------------------------------------------------
    attack(
        "cancel_swallow_sleep",
        "import asyncio\nwhile True:\n    try:\n        await asyncio.sleep(10)\n"
        "    except BaseException:\n        pass",
        "timeout",
    ),
    attack(
        "cancel_swallow_tool_call",
        "while True:\n    try:\n        await slow(seconds=30)\n    except BaseException:\n        pass",
        "timeout",
    ),
    attack(
        "cancel_catch_exit_and_interrupt",
        "try:\n    raise SystemExit(0)\nexcept SystemExit:\n    pass\n"
        "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n    while True:\n        pass",
        "timeout",
    ),
    attack(
        "cancel_ignore_cancelled_error",
        "import asyncio\nasync def stubborn():\n    while True:\n        try:\n"
        "            await asyncio.sleep(1)\n"
        "        except asyncio.CancelledError:\n            continue\n"
        "t = asyncio.ensure_future(stubborn())\nawait asyncio.sleep(0.01)\nt.cancel()\nawait t",
        "timeout",
    ),
    # -- signals ----------------------------------------------------------------------------
    attack(
        "sig_ignore_term_int_xcpu",
        "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass",
        "rejected",
        "timeout",
    ),
    attack(
        "sig_block_all_then_sleep",
        "import signal, time\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())\ntime.sleep(1000)",
        "rejected",
        "timeout",
    ),
    attack(
        "sig_ignore_xcpu_past_cpu_limit",
        "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass",
        "rejected",
        "killed",
        cpu_s=1,
        timeout_s=5.0,
    ),
    # -- attacks on the host through the result ---------------------------------------------
    attack("host_evil_object_result", EVIL + "result = Evil()", "error"),
    attack("host_evil_object_nested", EVIL + "result = {'a': [1, Evil()], 'b': Evil}", "error"),
    attack(
        "host_str_subclass_arrives_as_str",
        "class S(str):\n    def __repr__(self):\n        raise SystemExit('repr ran in the host')\n"
        "    def __eq__(self, other):\n        raise SystemExit('eq ran in the host')\n"
        "    def __hash__(self):\n        return 1\nresult = S('plain')",
        "succeeded",
    ),
    attack("host_deep_result", "r = []\nfor _ in range(100_000):\n    r = [r]\nresult = r", "error"),
    # -- huge outputs -----------------------------------------------------------------------
    attack("out_stdout_flood", "while True:\n    print('x' * 1000)", "timeout"),
    attack("out_stdout_once", "print('y' * 10 ** 7)\nraise RuntimeError('after printing')", "error"),
    attack("out_giant_result", "result = 'x' * 10 ** 7", "error"),
    attack("out_giant_error", "raise ValueError('e' * 10 ** 7)", "error"),
    attack("out_giant_tool_arguments", "await echo(text='x' * 10 ** 7)", "error"),
    # -- secret exfiltration through tool arguments -----------------------------------------
    attack("exfil_env_to_tool", "import os\nawait echo(text=os.environ['@NAME@'])", "rejected", "error"),
    attack("exfil_file_to_tool", "await echo(text=open('@FILE@').read())", "rejected", "error"),
    attack(
        "exfil_proc_environ_to_tool",
        "await echo(text=open('/proc/@HOSTPID@/environ').read())",
        "rejected",
        "error",
    ),
    attack(
        "exfil_whole_environment_to_tool",
        "import os\nawait echo(text=repr(dict(os.environ)))\nresult = 'sent'",
        "rejected",
        "succeeded",
    ),
    attack(
        "exfil_walk_to_tool",
        WALK
        + "await echo(text=g['environ'].get('@NAME@', 'absent'))\nawait echo(text=g['open']('@FILE@', 0))",
        "rejected",
        "error",
    ),
    # -- protocol abuse: hostile frames straight onto the channel -----------------------------
    attack(
        "proto_oversized_frame",
        CHANNEL + "ch.sendall(struct.pack('>I', 2 ** 31) + b'x')\nawait asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_not_json",
        CHANNEL + "ch.sendall(struct.pack('>I', 5) + b'nope!')\nawait asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_deep_json",
        CHANNEL + "body = b'[' * 100000 + b']' * 100000\nch.sendall(struct.pack('>I', len(body)) + body)\n"
        "await asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_nan_and_huge_int",
        CHANNEL + 'body = b\'{"t":"done","ok":true,"result":[NaN, 1\' + b\'1\' * 5000 + b\']}\'\n'
        "ch.sendall(struct.pack('>I', len(body)) + body)\nawait asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_unknown_message",
        CHANNEL + 'body = b\'{"t":"exec","cmd":"id"}\'\nch.sendall(struct.pack(\'>I\', len(body)) + body)\n'
        "await asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_frame_flood",
        CHANNEL + 'body = b\'{"t":"out","text":"z"}\'\nframe = struct.pack(\'>I\', len(body)) + body\n'
        "for _ in range(100_000):\n    ch.sendall(frame)\nawait asyncio.sleep(5)",
        "rejected",
        "killed",
    ),
    attack(
        "proto_forged_done_then_linger",
        CHANNEL + 'body = b\'{"t":"done","ok":true,"result":"forged"}\'\n'
        "ch.sendall(struct.pack('>I', len(body)) + body)\nwhile True:\n    pass",
        "rejected",
        "succeeded",
    ),
]


DENIED = "PermissionError: [Errno 1] Operation not permitted"
NO_CANARY = "KeyError: '@NAME@'"  # the environment variable is not there at all
# What the raw run must report: the attack got past the language and hit the process boundary.
RAW_REASONS = {
    "og_subclasses_wrap_close": DENIED,
    "og_getattr_computed_names": NO_CANARY,
    "og_vars_type_dict": DENIED,
    "og_mro_then_system": "OSError: 32512",  # system(): the shell could not be spawned
    "og_builtins_from_len": DENIED,
    "og_match_class_pattern": DENIED,
    "og_function_globals_builtins": DENIED,
    "frame_gi_frame": DENIED,
    "frame_tb_frame_f_back": NO_CANARY,
    "frame_cr_frame": DENIED,
    "frame_ag_frame": DENIED,
    "frame_asyncio_task_stack": DENIED,
    "fmt_attribute_chain": NO_CANARY,
    "fmt_format_map": NO_CANARY,
    "fmt_f_string": NO_CANARY,
    "fmt_computed_field_dodges_precheck": NO_CANARY,
    "mod_collections_sys": NO_CANARY,
    "mod_asyncio_reexports_socket": DENIED,
    "mod_random_os": NO_CANARY,
    "mod_json_codecs_open": DENIED,
    "mod_dunder_import": NO_CANARY,
    "mod_importlib": DENIED,
    "mod_builtins_open": DENIED,
    "mod_import_os": NO_CANARY,
    "native_ctypes_system": "OSError: 32512",
    "native_ctypes_open": "open failed",
    "native_ctypes_raw_socket": "socket failed",
    "native_ctypes_undo_seccomp": DENIED,
    "deser_marshal_code": DENIED,
    "thread_start": "can't start new thread",
    "thread_raw": "can't start new thread",
    "cpu_limit": "CPU time limit (1 s",
    "sig_ignore_xcpu_past_cpu_limit": "killed by SIGKILL: CPU time limit (1 s",
    "mem_bytearray": "MemoryError",
    "mem_list_growth": "MemoryError",
    "mem_str_repeat": "MemoryError",
    "fork_os_fork": DENIED,
    "fork_bomb_loop": DENIED,
    "fork_subprocess": DENIED,
    "fork_asyncio_subprocess": DENIED,
    "fork_execv": DENIED,
    "file_read_passwd": DENIED,
    "file_read_canary": DENIED,
    "file_write": DENIED,
    "file_write_cwd": DENIED,
    "file_listdir": DENIED,
    "file_stat": DENIED,
    "env_dump_and_read": NO_CANARY,
    "exfil_whole_environment_to_tool": "",
    "env_proc_self": DENIED,
    "env_proc_parent": DENIED,
    "env_proc_host": DENIED,
    "env_proc_host_mem": DENIED,
    "net_socket_connect": DENIED,
    "net_asyncio_open_connection": DENIED,
    "net_datagram_dodges_precheck": DENIED,
    "host_evil_object_result": "not JSON serializable",
    "host_deep_result": "nested deeper than 64 levels",
    "out_giant_result": "over the limit of 262144",
    "out_giant_tool_arguments": "over 327680",
    "exfil_env_to_tool": NO_CANARY,
    "exfil_file_to_tool": DENIED,
    "exfil_proc_environ_to_tool": DENIED,
    "exfil_walk_to_tool": DENIED,
    "proto_oversized_frame": "protocol violation (frame of 2147483648 bytes",
    "proto_not_json": "protocol violation (frame is not valid JSON",
    "proto_deep_json": "protocol violation (frame is not valid JSON (RecursionError))",
    "proto_nan_and_huge_int": "protocol violation (NaN is not JSON)",
    "proto_unknown_message": "protocol violation (unexpected message 'exec')",
    "proto_frame_flood": "protocol violation (too many messages)",
}


class RecordingTools:
    """A ToolInvoker that records every argument it is given (the canary must never be one)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def invoke(self, name: str, arguments: dict[str, Any]) -> Any:
        self.seen.append((name, arguments))
        if name == "slow":
            await asyncio.sleep(float(arguments.get("seconds", 30)))
        return {"ok": True}


class Listener:
    """A TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@dataclass(frozen=True)
class Env:
    name: str
    value: str
    file_value: str
    file: Path
    folder: Path
    listener: Listener
    runners: dict[str, LocalSandboxRunner]

    def secrets(self) -> tuple[str, str]:
        return self.value, self.file_value


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    name = f"TW_CANARY_{secrets.token_hex(4).upper()}"
    value, file_value = f"env-canary-{secrets.token_hex(16)}", f"file-canary-{secrets.token_hex(16)}"
    folder = tmp_path_factory.mktemp("canary")
    canary = folder / "canary.txt"
    canary.write_text(file_value)
    listener = Listener()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(name, value)  # set before the zygote starts: it must not inherit it
        runners = {"guarded": LocalSandboxRunner(), "raw": LocalSandboxRunner(ast_precheck=False)}
        try:
            yield Env(name, value, file_value, canary, folder, listener, runners)
        finally:
            for runner in runners.values():
                runner.close()
            listener.close()


def _program(code: str, env: Env) -> str:
    for token, value in {
        "@NAME@": env.name,
        "@FILE@": str(env.file),
        "@DIR@": str(env.folder),
        "@PORT@": str(env.listener.port),
        "@HOSTPID@": str(os.getpid()),
    }.items():
        code = code.replace(token, value)
    return code


def _assert_contained(outcome: RunOutcome, tools: RecordingTools, env: Env) -> None:
    seen = json.dumps(
        [outcome.result, outcome.stdout, outcome.error, [c.arguments for c in outcome.tool_calls], tools.seen]
    )
    for secret in env.secrets():
        assert secret not in seen
    assert env.listener.accepted == 0
    assert sorted(p.name for p in env.folder.iterdir()) == ["canary.txt"]
    assert len(outcome.stdout.encode()) <= RunLimits().max_output_bytes + 100
    assert outcome.error is None or len(outcome.error) <= 4100


@pytest.mark.parametrize("mode", ["guarded", "raw"])
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_contained(attack: Attack, mode: str, env: Env, request: pytest.FixtureRequest) -> None:
    runner = env.runners[mode]
    tools = RecordingTools()
    limits = RunLimits(timeout_s=attack.timeout_s, cpu_s=attack.cpu_s)

    async def scenario() -> tuple[RunOutcome, int]:
        run = runner.run(_program(attack.code, env), tools=tools, tool_names=TOOLS, limits=limits)
        # A liveness guard, not a timing check: an attack that stalls the parent fails here.
        outcome = await asyncio.wait_for(run, attack.timeout_s + HANG_S)
        calls = len(tools.seen)
        await asyncio.sleep(0.3 if attack.calls_stop else 0)
        return outcome, calls

    outcome, calls = asyncio.run(scenario())
    expected = attack.guarded if mode == "guarded" else attack.raw
    assert outcome.status == expected, (outcome.status, outcome.error, outcome.stdout[:200])
    reason = RAW_REASONS.get(request.node.callspec.id.rsplit("-", 1)[0], "")
    if mode == "raw" or expected != "rejected":
        assert reason.replace("@NAME@", env.name) in (outcome.error or ""), outcome.error
    _assert_contained(outcome, tools, env)
    if attack.calls_stop:
        assert calls > 0 and len(tools.seen) == calls  # nothing of the run is left calling tools
    if outcome.status == "succeeded":
        assert type(outcome.result) in (str, int, float, bool, list, dict, type(None))
    # the host is alive and its sandbox still answers
    check = asyncio.run(runner.run("result = 40 + 2", tools=tools, tool_names=[], limits=RunLimits()))
    assert (check.status, check.result) == ("succeeded", 42)


def test_the_suite_is_large_enough() -> None:
    assert len(ATTACKS) >= 40
    assert set(RAW_REASONS) <= {param.id for param in ATTACKS}


def test_a_child_has_no_environment_no_descriptors_and_no_privileges(env: Env) -> None:
    code = (
        "import os, resource\n"
        "def is_open(fd):\n    try:\n        os.get_inheritable(fd)\n        return True\n"
        "    except OSError:\n        return False\n"
        "names = ('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC')\n"
        "limits = {name: resource.getrlimit(getattr(resource, name))[0] for name in names}\n"
        "result = {'env': dict(os.environ), 'fds': [fd for fd in range(1024) if is_open(fd)],\n"
        "          'uid': os.getuid(), 'limits': limits}"
    )
    limits = RunLimits(memory_mb=200, cpu_s=7)
    outcome = asyncio.run(env.runners["raw"].run(code, tools=RecordingTools(), tool_names=[], limits=limits))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result["env"] == {}
    # 0-2 are /dev/null, 3 is the channel; the rest are the asyncio loop's epoll and self-pipe
    assert outcome.result["fds"] == list(range(7))
    assert outcome.result["uid"] == (65534 if os.geteuid() == 0 else os.geteuid())
    assert outcome.result["limits"] == {
        "RLIMIT_AS": 200 * 1024 * 1024,
        "RLIMIT_CPU": 7,
        "RLIMIT_FSIZE": 0,
        "RLIMIT_NOFILE": 16,
        "RLIMIT_NPROC": 0,
    }
