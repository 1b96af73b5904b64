"""``gpool serve --workers 2``: two processes on one port, sharing state through the file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from gpool.fake import FakeState, fake_key
from tests.processes import GpoolProcess, write_config

BODY = b'{"contents":[{"parts":[{"text":"hello"}]}]}'
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_two_workers_serve_one_port_and_share_disabled_keys(
    tmp_path: Path, unused_tcp_port: int, fake_server: TestServer, fake: FakeState
) -> None:
    bad, good = fake_key("invalid", 1), fake_key("ok", 2)
    config = write_config(tmp_path, fake_server, f"keys: [{bad}, {good}]\nstate: sqlite:///s.db\n")
    args = ["serve", "--config", str(config), "--port", str(unused_tcp_port), "--workers", "2"]
    gpool = await GpoolProcess.start(*args, ready=2)
    try:
        url = f"http://127.0.0.1:{unused_tcp_port}{GENERATE}"
        # One request: one worker loads the model catalog, meets the bad key, disables it.
        async with aiohttp.ClientSession() as session, session.post(url, data=BODY) as resp:
            assert resp.status == 200
        assert [c.key for c in fake.calls].count(bad) == 1
        await asyncio.sleep(2.5)  # a write-behind and read-back period of the state file
        # New connections each time, so the kernel spreads them over both workers.
        for _ in range(20):
            async with aiohttp.ClientSession() as session, session.post(url, data=BODY) as resp:
                assert resp.status == 200
        listings = [c for c in fake.calls if c.method_name == "list" and c.key == good]
        assert len(listings) == 2  # each worker loaded its catalog: both served
        # The other worker learnt from the file and never offered the bad key.
        assert [c.key for c in fake.calls].count(bad) == 1
        assert await gpool.stop() == 0
        assert gpool.text.count("disabled: API_KEY_INVALID") == 1
    finally:
        await gpool.kill()


async def test_workers_refuse_memory_state(tmp_path: Path) -> None:
    config = tmp_path / "gpool.yaml"
    config.write_text(f"keys: [{fake_key('ok', 1)}]\nstate: memory\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gpool",
        "serve",
        "--config",
        str(config),
        "--workers",
        "2",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"--workers needs state the workers can share" in err


async def test_workers_stop_when_their_supervisor_is_killed(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    config = tmp_path / "gpool.yaml"
    config.write_text(f"keys: [{fake_key('ok', 1)}]\nstate: sqlite:///state.db\n")
    args = ["serve", "--config", str(config), "--port", str(unused_tcp_port), "--workers", "2"]
    gpool = await GpoolProcess.start(*args, ready=2)
    try:
        children = _children(gpool.proc.pid)
        assert len(children) >= 2
        await gpool.kill()  # SIGKILL: the supervisor gets no chance to stop its workers
        for _ in range(100):
            if not _alive(children):
                break
            await asyncio.sleep(0.1)
        left = _alive(children)
        for pid in left:  # so a regression fails here instead of hanging the teardown
            os.kill(int(pid), signal.SIGKILL)
        assert left == []
    finally:
        await gpool.kill()


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def _alive(pids: list[str]) -> list[str]:
    """The processes among ``pids`` that still run (a zombie has stopped)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            if "zombie" not in Path(f"/proc/{pid}/status").read_text():
                alive.append(pid)
    return alive
