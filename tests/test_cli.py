"""The gpool command, run as a real process: versions, config checks, refusals, demo, serve."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gpool import __version__
from gpool.fake import FakeState, fake_key
from tests.processes import GpoolProcess, write_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ENV = {
    "GEMINI_KEY_1": "AIzaSyExampleKeyNumberOne000000000001",
    "GEMINI_KEY_2": "AIzaSyExampleKeyNumberTwo000000000002",
    "GPOOL_CLIENT_TOKEN": "sk-example-token",
}


def gpool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpool", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version() -> None:
    result = gpool("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gpool {__version__}"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "gpool"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and __version__ in result.stdout


def test_check_config_prints_a_masked_summary() -> None:
    result = gpool("check-config", "--config", str(ROOT / "config.yaml.example"), env=EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert "keys:" in result.stdout and "client tokens:" in result.stdout
    for secret in EXAMPLE_ENV.values():
        assert secret not in result.stdout + result.stderr


def test_bad_config_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    secret = "AIzaSyLeakyLeakyLeakyLeaky0000000000001"
    config = tmp_path / "bad.yaml"
    config.write_text(
        f"keys:\n  - {secret}\n  - {{key: {secret}x, proxy: 'ftp://h:1'}}\n"
        "  - {key: other, weight: 0}\nretry: {max_atempts: 3}\n"
    )
    result = gpool("serve", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        "gpool: config error: $.keys[1].proxy: unsupported scheme 'ftp' (use socks4, socks5, http)"
        in lines
    )
    assert "gpool: config error: $.retry: unknown field 'max_atempts'" in lines
    assert any(line.startswith("gpool: config error: $.keys[2].weight:") for line in lines)
    assert "Traceback" not in result.stderr
    assert secret not in result.stderr


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    result = gpool("check-config", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_refuses_an_open_gateway_on_a_public_address(tmp_path: Path) -> None:
    config = tmp_path / "open.yaml"
    config.write_text(f"keys: [{fake_key('ok', 1)}]\n")
    result = gpool("serve", "--config", str(config), "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "auth.tokens" in result.stderr


@pytest.fixture
async def process() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        assert line, "process ended early:\n" + "".join(seen)
        seen.append(line)
        if marker in line:
            return


async def test_demo_serves_and_fails_over(
    process: list[asyncio.subprocess.Process], unused_tcp_port: int
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gpool",
        "serve",
        "--demo",
        "--port",
        str(unused_tcp_port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    process.append(proc)
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    await _read_until(proc.stdout, "curl -s http", out)
    base = f"http://127.0.0.1:{unused_tcp_port}"
    assert any(base in line for line in out)
    body = {"contents": [{"parts": [{"text": "Hello"}]}]}
    async with aiohttp.ClientSession(headers={"x-goog-api-key": "sk-gpool-demo"}) as session:
        for _ in range(3):
            async with session.post(
                f"{base}/v1beta/models/gemini-2.5-flash:generateContent", json=body
            ) as resp:
                assert resp.status == 200
                assert (
                    "Hello" in (await resp.json())["candidates"][0]["content"]["parts"][0]["text"]
                )
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    log = (await proc.stderr.read()).decode()
    assert "disabled" in log and "failing over" in log
    assert "AIzaFAKE" not in log


async def test_serve_with_a_config_file(
    tmp_path: Path, unused_tcp_port: int, fake_server: TestServer, fake: FakeState
) -> None:
    key = fake_key("ok", 7)
    rest = "keys: ['${MY_KEY}']\nauth: {tokens: [sk-t]}\nlog: {format: json}\n"
    config = write_config(tmp_path, fake_server, rest)
    args = ["serve", "--config", str(config), "--port", str(unused_tcp_port)]
    gpool = await GpoolProcess.start(*args, env={"MY_KEY": key})
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{unused_tcp_port}/v1/models/gemini-2.5-flash:generateContent",
                json={"contents": [{"parts": [{"text": "hi"}]}]},
                headers={"Authorization": "Bearer sk-t"},
            ) as resp,
        ):
            assert resp.status == 200
        assert await gpool.stop() == 0
    finally:
        await gpool.kill()
    assert '"logger": "gpool.access"' in gpool.text and '"status": 200' in gpool.text
    assert key not in gpool.text and "sk-t" not in gpool.text
    assert fake.calls[-1].key == key


@pytest.mark.parametrize("speed", ["1", "0"])
async def test_serve_says_which_engines_run_it_and_answers_on_both(
    tmp_path: Path, unused_tcp_port: int, fake_server: TestServer, speed: str
) -> None:
    """gpool[speed] (uvloop, orjson) when installed; GPOOL_SPEED=0 runs the stdlib path."""
    config = write_config(tmp_path, fake_server, f"keys: ['{fake_key('ok', 3)}']\n")
    args = ["serve", "--config", str(config), "--port", str(unused_tcp_port)]
    gpool = await GpoolProcess.start(*args, env={"GPOOL_SPEED": speed})
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        async with aiohttp.ClientSession() as session:
            chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(f"{base}/v1/chat/completions", json=chat) as resp:
                assert resp.status == 200
                assert (await resp.json())["choices"][0]["message"]["content"]
            bad = b'{"model": "gemini-2.5-flash", "temperature": NaN}'
            async with session.post(f"{base}/v1/chat/completions", data=bad) as resp:
                assert resp.status == 400
                assert "NaN is not a JSON value" in (await resp.json())["error"]["message"]
        assert await gpool.stop() == 0
    finally:
        await gpool.kill()
    fast = speed == "1"
    loop = "uvloop" if fast and importlib.util.find_spec("uvloop") else "asyncio"
    json_lib = "orjson" if fast and importlib.util.find_spec("orjson") else "json"
    assert f"; {loop}, {json_lib}\n" in gpool.text
