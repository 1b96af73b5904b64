"""What a results file says about where it ran: the CPU, and the state of gpool's code."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

__all__ = ["code_version", "commit", "cpu_model"]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - a fixed git command
        ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def code_version(repo: Path) -> str:
    """gpool/'s tree at HEAD, and how many files under gpool/ differ from it: what a gpool
    started now runs. Read at every start, since gpool may change while a benchmark runs."""
    # gpool/'s tree, not the commit: commits that only touch the bench or docs compare equal.
    tree = _git(repo, "rev-parse", "--short", "HEAD:gpool") or "unknown"
    changed = _git(repo, "status", "--porcelain", "--", "gpool").splitlines()
    version = f"gpool/ tree {tree}"
    return f"{version} + {len(changed)} changed files in gpool/" if changed else version


def commit(repo: Path) -> str:
    return _git(repo, "rev-parse", "--short", "HEAD") or "unknown"
