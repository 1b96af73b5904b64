"""The benchmark's processes: starting, pinning and stopping them, and reading /proc."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Pinning",
    "ProcSample",
    "Service",
    "descendants",
    "fd_count",
    "fd_kinds",
    "free_port",
    "machine_busy_s",
    "nofile_limit",
    "plan_pinning",
    "raise_nofile",
    "sample_tree",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process tree: CPU seconds used so far, resident memory, open fds."""

    cpu_s: float
    rss_bytes: int
    fds: int
    processes: int


def _stat_cpu_s(pid: int) -> float:
    """utime + stime (fields 14 and 15 of /proc/PID/stat), in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; every field after it follows the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no VmRSS line


def machine_busy_s() -> float:
    """CPU seconds every CPU has spent busy since boot, hypervisor steal included."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def fd_count(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


_TCP_STATES = {"01": "established", "06": "time_wait", "08": "close_wait", "0A": "listen"}


def _tcp_sockets(pid: int) -> dict[str, tuple[int, int, str]]:
    """inode -> (local port, remote port, state) for the TCP sockets in ``pid``'s namespace."""
    found: dict[str, tuple[int, int, str]] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                local = int(cols[1].rsplit(":", 1)[1], 16)
                remote = int(cols[2].rsplit(":", 1)[1], 16)
                found[cols[9]] = (local, remote, _TCP_STATES.get(cols[3], cols[3]))
    return found


def fd_kinds(pid: int, *, listen_port: int, upstream_port: int) -> dict[str, int]:
    """The open fds of ``pid`` and its descendants, by kind.

    ``upstream``: connections to ``upstream_port`` (``upstream_close_wait`` if the upstream
    closed its end and ``pid`` has not); ``client``: connections accepted on
    ``listen_port``; ``other``: the listener, the log, the event loop's own fds, files.
    """
    sockets = _tcp_sockets(pid)
    kinds = {"upstream": 0, "upstream_close_wait": 0, "client": 0, "other": 0}
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{member}/fd"):
                kinds[_fd_kind(member, fd, sockets, listen_port, upstream_port)] += 1
    return kinds


def _fd_kind(
    pid: int,
    fd: str,
    sockets: dict[str, tuple[int, int, str]],
    listen_port: int,
    upstream_port: int,
) -> str:
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return "other"  # closed while we looked
    tcp = sockets.get(link[8:-1]) if link.startswith("socket:[") else None
    if tcp is None:
        return "other"
    local, remote, state = tcp
    if remote == upstream_port:
        return "upstream_close_wait" if state == "close_wait" else "upstream"
    if local == listen_port and state != "listen":
        return "client"
    return "other"


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, from the kernel's per-thread children lists."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        children: set[int] = set()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{parent}/task/{task}/children").read_text()
                    children.update(int(c) for c in text.split())
        found.extend(sorted(children))
        todo.extend(children)
    return found


def sample_tree(pid: int) -> ProcSample:
    """CPU, RSS and fds summed over ``pid`` and its descendants (workers, if any).

    RSS summed over several processes counts shared pages more than once, so it is an
    upper bound for a multi-process server. A child that has exited takes its CPU time
    with it, so workers are expected to live for the whole measurement.
    """
    cpu = 0.0
    rss = fds = count = 0
    for member in [pid, *descendants(pid)]:
        try:
            cpu += _stat_cpu_s(member)
            rss += _rss_bytes(member)
            fds += fd_count(member)
        except (OSError, ValueError):
            continue  # it exited between the listing and the reading
        count += 1
    return ProcSample(cpu_s=cpu, rss_bytes=rss, fds=fds, processes=count)


def nofile_limit(pid: int) -> int | None:
    """The soft ``Max open files`` limit of a running process."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft = line.split()[3]
                return -1 if soft == "unlimited" else int(soft)
    return None


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft fd limit towards ``wanted``; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the load side (load generator and fake upstream) and the proxies get."""

    load: frozenset[int] | None
    proxy: frozenset[int] | None
    method: str  # "taskset", "sched_setaffinity" or "none: <why>"

    def describe(self) -> str:
        if self.load is None or self.proxy is None:
            return self.method
        return (
            f"load generator and fake upstream on CPU {_cpus(self.load)}, "
            f"proxy under test on CPU {_cpus(self.proxy)} (via {self.method})"
        )


def _cpus(cpus: Iterable[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def plan_pinning() -> Pinning:
    """The proxy gets every allowed CPU but the first; the load side gets the first.

    The fake upstream shares the load generator's CPU because it is cheap next to a
    proxy and the proxy must have a core to itself. With one CPU there is nothing to pin.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return Pinning(None, None, f"none: only {len(allowed)} CPU available")
    method = "taskset" if shutil.which("taskset") else "sched_setaffinity"
    return Pinning(frozenset(allowed[:1]), frozenset(allowed[1:]), method)


class Service:
    """A subprocess serving HTTP on a loopback port, its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        log_path: Path,
        *,
        cpus: frozenset[int] | None,
        pin_method: str,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = list(argv)
        self.port = port
        self.log_path = log_path
        self.cpus = cpus
        self.pin_method = pin_method
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] | None = None  # None: this process's environment

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Start it and wait until its port accepts connections."""
        argv = self.argv
        if self.cpus is not None and self.pin_method == "taskset":
            argv = ["taskset", "-c", _cpus(self.cpus), *argv]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.cwd, env=self.env
            )
        if self.cpus is not None and self.pin_method == "sched_setaffinity":
            os.sched_setaffinity(self.proc.pid, self.cpus)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port}:\n{self.log_tail()}")

    def sample(self) -> ProcSample:
        return sample_tree(self.pid)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} is not running:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not gone within ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"
