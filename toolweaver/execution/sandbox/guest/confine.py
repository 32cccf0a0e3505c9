"""What a freshly forked child does to itself before any program text reaches it.

Order matters: descriptors first (nothing but the channel survives), then a session of its own,
the resource limits (while still privileged enough to set them), dropping root, the parent-death
signal (a credential change clears it, so it comes after), and last the seccomp filter, once the
event loop exists (its epoll descriptor and self-pipe are created before ``socketpair`` and
``epoll_create`` are denied).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
from dataclasses import dataclass

CHANNEL_FD = 3  # the child's only descriptor besides /dev/null on 0, 1 and 2
OPEN_FILES = 16  # channel, epoll, the loop's self-pipe, and a little slack
NOBODY = 65534  # the uid/gid a root zygote's children run as
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class ChildLimits:
    memory_mb: int
    cpu_s: int


def keep_only_channel(channel_fd: int) -> None:
    """Put the channel on fd 3, /dev/null on 0-2, and close every other descriptor."""
    if channel_fd != CHANNEL_FD:
        os.dup2(channel_fd, CHANNEL_FD, inheritable=False)
        os.close(channel_fd)
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        if null != target:
            os.dup2(null, target)
    # closes ``null`` too, unless it landed on 0-2 (then it is one of them)
    os.closerange(CHANNEL_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def apply_limits(limits: ChildLimits) -> None:
    """Address space, CPU seconds (SIGXCPU at the soft limit, SIGKILL one second later), no file
    growth, few descriptors, no core dumps, no new processes (root ignores NPROC: seccomp and
    dropping root cover that)."""
    memory = limits.memory_mb * 1024 * 1024
    for which, soft, hard in (
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
        (resource.RLIMIT_FSIZE, 0, 0),
        (resource.RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, 0, 0),
        (resource.RLIMIT_MEMLOCK, 0, 0),
    ):
        resource.setrlimit(which, (soft, hard))


def drop_root() -> None:
    """Run as nobody when started as root: other users' files and /proc entries become
    unreadable, and RLIMIT_NPROC takes effect. Best effort: where the uid cannot be changed (a
    user namespace without that uid mapped) the child stays root, and ``ready`` reports its uid
    to the host (``SandboxHealth.child_uid``)."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the zygote goes away (exits if it already has)."""
    if _libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(0)


def reset_signals() -> None:
    """The zygote's SIGCHLD handler and wake-up descriptor do not belong in a child."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):
        signal.signal(signum, signal.SIG_DFL)
