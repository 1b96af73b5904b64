"""``gpool serve`` as a real process in a test: started, read until ready, its log kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

__all__ = ["GpoolProcess", "write_config"]


def write_config(tmp_path: Path, fake_server: TestServer, rest: str) -> Path:
    """A config file aimed at the fake upstream, with ``rest`` (YAML) appended."""
    config = tmp_path / "gpool.yaml"
    base = str(fake_server.make_url("")).rstrip("/")
    config.write_text(f"upstream: {{base_url: '{base}'}}\n{rest}")
    return config


class GpoolProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[bytes] = []
        self._drain: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls, *args: str, ready: int = 1, env: dict[str, str] | None = None
    ) -> GpoolProcess:
        """Run ``python -m gpool *args``; return once ``ready`` processes say they serve."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gpool",
            *args,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self = cls(proc)
        assert proc.stderr is not None
        serving = 0
        try:
            while serving < ready:
                line = await asyncio.wait_for(proc.stderr.readline(), 60)
                assert line, "gpool exited early:\n" + self.text
                self.log.append(line)
                serving += b"serving" in line
        except BaseException:
            await self.kill()
            raise
        # Keep reading: a full stderr pipe would stall the processes writing to it.
        self._drain = asyncio.create_task(self._read_rest())
        return self

    async def _read_rest(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line)

    @property
    def text(self) -> str:
        return b"".join(self.log).decode(errors="replace")

    async def stop(self) -> int:
        """SIGTERM, then wait for the exit and the end of the log."""
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, 10)
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            self._drain.cancel()
