"""The seccomp filter a sandboxed child loads after start-up and before the program runs.

An allow-list: every system call not named here fails with EPERM (a readable PermissionError in
the program), and a call from another architecture (32-bit ``int 0x80``) kills the process.
What stays allowed is what a running interpreter, its allocator and an asyncio loop over the one
already-open channel need: read/write on existing descriptors, memory management, futexes,
clocks, signals of its own, poll/epoll waits. Left out on purpose, so denied:

    open, openat, openat2, creat     no new files: everything was imported before the filter
    socket, socketpair, connect, bind, listen, accept    no network, no new channels
    execve, execveat, fork, vfork, clone, clone3         no programs, processes or threads
    kill, tkill, tgkill, pidfd_*, ptrace, process_vm_*   nothing reaches another process
    mkdir, unlink, rename, chmod, truncate, ...          no file system changes
    stat, newfstatat, statx, access, readlink, getdents  not even file metadata
    setrlimit, prctl, seccomp, set*id, unshare, mount    the confinement cannot be undone
    io_uring_*, bpf, perf_event_open, userfaultfd, memfd_create, pipe, epoll_create

``ioctl`` is allowed only for the requests CPython's sockets use (non-blocking, close-on-exec,
isatty) and ``prlimit64`` only to read the process's own limits.
"""

from __future__ import annotations

import errno
from typing import Any

ALLOWED_SYSCALLS = (
    # descriptors that are already open
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "dup", "dup2",
    "dup3", "fcntl",
    # the channel (a connected socket) and waiting on it
    "recvfrom", "sendto", "recvmsg", "sendmsg", "shutdown", "getsockopt", "setsockopt",
    "getsockname", "getpeername", "poll", "ppoll", "select", "pselect6", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "epoll_ctl",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    # threads of the runtime itself, time, identity
    "futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
    "getrandom", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    "time", "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
    "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "getrusage", "times", "uname",
    "sysinfo", "getcwd", "getpriority", "getrlimit",
    # signals delivered to this process (it cannot send any)
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "sigaltstack", "pause", "alarm", "setitimer", "getitimer",
    "restart_syscall", "exit", "exit_group",
)  # fmt: skip

# FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, TCGETS (isatty answers ENOTTY)
ALLOWED_IOCTLS = (0x5421, 0x5451, 0x5450, 0x541B, 0x5401)


class Filter:
    """A built filter, ready to load into a child (building happens once, in the zygote)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def load(self) -> None:
        """Load into the calling process (and its future threads). Raises OSError on failure."""
        self._handle.load()


def build() -> tuple[Filter | None, str]:
    """The filter, or None and why not (no libseccomp, no pyseccomp)."""
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]  # ctypes binding, no stubs
    except (ImportError, OSError, RuntimeError) as exc:
        return None, f"pyseccomp unavailable: {exc}"
    try:
        handle = sc.SyscallFilter(sc.ERRNO(errno.EPERM))
        handle.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
        for name in ALLOWED_SYSCALLS:
            number = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if number >= 0:  # unknown on this architecture (e.g. "time" on aarch64)
                handle.add_rule(sc.ALLOW, number)
        for request in ALLOWED_IOCTLS:
            handle.add_rule(sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))
        # getrlimit through prlimit64(0, resource, NULL, &old): reading own limits only
        handle.add_rule(sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0), sc.Arg(2, sc.EQ, 0))
    except OSError as exc:
        return None, f"libseccomp refused the filter: {exc}"
    return Filter(handle), "built"
