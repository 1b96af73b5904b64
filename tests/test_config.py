"""Tests for the config models and the YAML loader's behaviour and error lines."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from gpool.config import (
    AuthConfig,
    Config,
    KeyConfig,
    ModelsConfig,
    ServerConfig,
    UpstreamConfig,
    proxy_url_problem,
)
from gpool.config_loader import ConfigError, config_summary, load_config, parse_config
from gpool.redact import mask_key

KEY_A = "AIzaSyA0000000000000000000000000000aaaa"
KEY_B = "AIzaSyB0000000000000000000000000000bbbb"
KEY_C = "AIzaSyC0000000000000000000000000000cccc"
TOKEN = "sk-client-secret-token-1"
PASSWORD = "hunter2-proxy-pass"
EXAMPLE = Path(__file__).resolve().parent.parent / "config.yaml.example"


def problems_of(data: object, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, **kwargs)
    assert str(info.value) == "\n".join(info.value.problems)
    return list(info.value.problems)


def test_defaults() -> None:
    config = parse_config({"keys": [KEY_A]})
    assert config == Config(keys=(KeyConfig(key=KEY_A),))
    assert config.server == ServerConfig(host="127.0.0.1", port=8000, max_body_mb=64)
    assert config.upstream.base_url == "https://generativelanguage.googleapis.com"
    assert config.upstream.proxy is None
    assert (config.upstream.connect_timeout, config.upstream.read_timeout) == (10.0, 120.0)
    assert config.auth.tokens == ()
    assert config.cors.allow_origins == ()
    assert config.cors.max_age == 600
    assert (config.models.allow, config.models.deny, dict(config.models.aliases)) == ((), (), {})
    assert config.models.refresh_seconds == 300.0
    assert config.retry.max_attempts == 3
    assert (config.log.level, config.log.format) == ("info", "text")
    assert Config().keys == ()  # demo mode builds a keyless Config in code


def test_example_file_loads() -> None:
    env = {"GEMINI_KEY_1": KEY_A, "GEMINI_KEY_2": KEY_B, "GPOOL_CLIENT_TOKEN": TOKEN}
    config = load_config(EXAMPLE, env=env)
    assert [k.key for k in config.keys] == [KEY_A, KEY_B]
    assert config.keys[1].name == "team-b"
    assert config.keys[1].weight == 2
    assert config.auth.tokens == (TOKEN,)
    assert config.models.aliases == {"my-fast": "gemini-2.5-flash"}
    assert config.models.allow == ("gemini-*",)


def test_bare_and_mapping_keys() -> None:
    data = {
        "keys": [
            KEY_A,
            {"key": KEY_B, "name": "team-b", "proxy": "http://u:p@10.0.0.2:3128", "weight": 2},
        ],
        "upstream": {"proxy": "socks5://127.0.0.1:1080", "base_url": "http://localhost:9/"},
        "log": {"level": "DEBUG", "format": "json"},
    }
    config = parse_config(data)
    assert config.keys == (
        KeyConfig(key=KEY_A),
        KeyConfig(key=KEY_B, name="team-b", proxy="http://u:p@10.0.0.2:3128", weight=2),
    )
    assert [k.label for k in config.keys] == [mask_key(KEY_A), "team-b"]
    assert config.upstream.base_url == "http://localhost:9"
    assert config.log.level == "debug"


def test_keys_file_appends_in_order(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(
        f"# pool two\n\n{KEY_B}\n   {KEY_C}   # trailing comment\n#{KEY_A}\n"
    )
    (tmp_path / "config.yaml").write_text(f"keys: [{KEY_A}]\nkeys_file: keys.txt\n")
    config = load_config(tmp_path / "config.yaml", env={})
    assert [k.key for k in config.keys] == [KEY_A, KEY_B, KEY_C]


def test_keys_file_alone_and_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(f"{KEY_A}\n\n{KEY_B} {KEY_C}\n")
    problems = problems_of({"keys_file": "keys.txt"}, base_dir=tmp_path)
    assert problems == ["$.keys_file: line 3: key must not contain whitespace"]
    (tmp_path / "keys.txt").write_text(f"{KEY_A}\n")
    config = parse_config({"keys_file": str(tmp_path / "keys.txt")})  # absolute path
    assert [k.key for k in config.keys] == [KEY_A]


def test_keys_file_unreadable(tmp_path: Path) -> None:
    problems = problems_of({"keys": [KEY_A], "keys_file": "keys.txt"}, base_dir=tmp_path)
    assert problems == ["$.keys_file: cannot read 'keys.txt': No such file or directory"]


def test_env_substitution() -> None:
    data = {
        "keys": ["${K1}", {"key": "${K2}", "name": "x-${NAME}"}],
        "server": {"port": "${PORT}"},
        "models": {"aliases": {"fast": "gemini-$${literal}"}},
    }
    config = parse_config(data, env={"K1": KEY_A, "K2": KEY_B, "NAME": "b", "PORT": "9000"})
    assert [k.key for k in config.keys] == [KEY_A, KEY_B]
    assert config.keys[1].name == "x-b"
    assert config.server.port == 9000
    assert config.models.aliases == {"fast": "gemini-${literal}"}


def test_env_missing_variable() -> None:
    data = {"keys": [{"key": "${GEMINI_KEY}"}, "${OTHER}"], "server": {"port": "${PORT}"}}
    assert problems_of(data, env={"OTHER": KEY_A}) == [
        "$.keys[0].key: environment variable 'GEMINI_KEY' is not set",
        "$.server.port: environment variable 'PORT' is not set",
    ]


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPOOL_TEST_KEY", KEY_C)
    assert parse_config({"keys": ["${GPOOL_TEST_KEY}"]}).keys[0].key == KEY_C


def test_duplicates_removed_with_masked_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = {"keys": [KEY_A, KEY_B, {"key": KEY_A, "name": "again"}, KEY_B]}
    with caplog.at_level(logging.WARNING, logger="gpool.config"):
        config = parse_config(data)
    assert [k.key for k in config.keys] == [KEY_A, KEY_B]
    assert [r.getMessage() for r in caplog.records] == [
        f"duplicate key {mask_key(KEY_A)} removed (keys[2])",
        f"duplicate key {mask_key(KEY_B)} removed (keys[3])",
    ]
    assert KEY_A not in caplog.text
    assert KEY_B not in caplog.text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"keys": [KEY_A], "retry": {"max_atempts": 3}},
            "$.retry: unknown field 'max_atempts'",
            id="unknown-field",
        ),
        pytest.param(
            {"keys": [KEY_A], "colour": "blue"}, "$: unknown field 'colour'", id="unknown-top"
        ),
        pytest.param(
            {"keys": [KEY_A, KEY_B, {"key": KEY_C, "proxy": "ftp://127.0.0.1:21"}]},
            "$.keys[2].proxy: unsupported scheme 'ftp' (use socks4, socks5, http)",
            id="proxy-scheme",
        ),
        pytest.param(
            {"keys": [KEY_A], "upstream": {"proxy": "socks5://127.0.0.1"}},
            "$.upstream.proxy: proxy URL has no port (like socks5://127.0.0.1:1080)",
            id="proxy-port",
        ),
        pytest.param(
            {"keys": [KEY_A], "server": {"port": "abc"}},
            "$.server.port: expected an integer, got 'abc'",
            id="port-type",
        ),
        pytest.param(
            {"keys": [KEY_A], "server": {"port": True}},
            "$.server.port: expected an integer, got a boolean (true)",
            id="port-bool",
        ),
        pytest.param(
            {"keys": [KEY_A], "server": {"port": 70000}},
            "$.server.port: must be between 0 and 65535, got 70000",
            id="port-range",
        ),
        pytest.param(
            {"keys": [KEY_A], "retry": {"max_attempts": 0}},
            "$.retry.max_attempts: must be between 1 and 20, got 0",
            id="max-attempts-range",
        ),
        pytest.param(
            {"keys": [KEY_A], "upstream": {"read_timeout": 0}},
            "$.upstream.read_timeout: must be greater than 0, got 0.0",
            id="timeout",
        ),
        pytest.param(
            {"keys": [KEY_A], "upstream": {"base_url": "ftp://example.com"}},
            "$.upstream.base_url: must be an http(s) URL with a host, got 'ftp://example.com'",
            id="base-url",
        ),
        pytest.param(
            {"keys": [KEY_A], "models": {"aliases": {"fast": "models/gemini-2.5-flash"}}},
            "$.models.aliases['fast']: alias target 'models/gemini-2.5-flash' must not start"
            " with 'models/' (use the bare model name)",
            id="alias-prefix",
        ),
        pytest.param(
            {"keys": [KEY_A], "log": {"format": "xml"}},
            "$.log.format: must be one of text, json; got 'xml'",
            id="log-format",
        ),
        pytest.param(
            {"keys": [KEY_A], "auth": {"tokens": "sk-1"}},
            "$.auth.tokens: expected a list, got a string",
            id="tokens-not-list",
        ),
        pytest.param(
            {"keys": [KEY_A], "server": [8000]},
            "$.server: expected a mapping, got a list",
            id="section-not-mapping",
        ),
        pytest.param(
            {"keys": [KEY_A], "models": {"aliases": ["a"]}},
            "$.models.aliases: expected a mapping",
            id="aliases-not-mapping",
        ),
        pytest.param(
            {"keys": [{"name": "x"}]}, "$.keys[0].key: required field missing", id="key-missing"
        ),
        pytest.param(
            {"keys": []}, "$.keys: no API keys configured (add keys or keys_file)", id="no-keys"
        ),
        pytest.param({}, "$.keys: no API keys configured (add keys or keys_file)", id="empty"),
        pytest.param(None, "$.keys: no API keys configured (add keys or keys_file)", id="none"),
        pytest.param([KEY_A], "$: expected a mapping", id="not-mapping"),
    ],
)
def test_error_lines(data: object, expected: str) -> None:
    assert problems_of(data) == [expected]


def test_all_problems_reported() -> None:
    data = {
        "server": {"port": "abc"},
        "retry": {"max_atempts": 3},
        "keys": [KEY_A, {"key": KEY_B, "weight": 0}, {"key": KEY_C, "proxy": "ftp://h:1"}],
        "log": {"level": "loud"},
    }
    assert problems_of(data) == [
        "$.server.port: expected an integer, got 'abc'",
        "$.keys[1].weight: must be between 1 and 1000, got 0",
        "$.keys[2].proxy: unsupported scheme 'ftp' (use socks4, socks5, http)",
        "$.retry: unknown field 'max_atempts'",
        "$.log.level: must be one of debug, info, warning, error; got 'loud'",
    ]


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: [8000\nkeys: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == (f"{path}:3:5: invalid YAML: expected ',' or ']', but got ':'",)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: cannot read config file: No such file or directory"


def test_empty_file_means_no_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.problems == ("$.keys: no API keys configured (add keys or keys_file)",)


def test_no_secret_in_errors(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(f"{KEY_A} {KEY_B}\n")
    data = {
        "keys_file": "keys.txt",
        "keys": [
            f"{KEY_A} {KEY_C}",  # whitespace inside the key
            {"key": 12345678901234567890},  # type error on a key
            {KEY_B: "name"},  # a key pasted as a field name
            {"key": KEY_C, "proxy": f"ftp://user:{PASSWORD}@127.0.0.1:21"},
            {"key": KEY_C, "weight": KEY_A},
            [KEY_C],
        ],
        "auth": {"tokens": [TOKEN, f"{TOKEN} x", 42]},
        "upstream": {"base_url": f"ftp://user:{PASSWORD}@host", "read_timeout": TOKEN},
    }
    text = str(ConfigError(problems_of(data, base_dir=tmp_path)))
    for secret in (KEY_A, KEY_B, KEY_C, TOKEN, PASSWORD, "12345678901234567890"):
        assert secret not in text
    assert "$.keys[0].key: must not contain whitespace" in text
    assert "$.keys[1].key: expected a string, got a number" in text
    assert f"$.keys[2]: unknown field '{mask_key(KEY_B)}'" in text
    assert "$.keys[4].weight: expected an integer, got a string" in text
    assert "$.keys_file: line 1: key must not contain whitespace" in text


def test_repr_hides_secrets() -> None:
    config = Config(
        auth=AuthConfig(tokens=(TOKEN,)),
        upstream=UpstreamConfig(proxy=f"http://user:{PASSWORD}@127.0.0.1:3128"),
        keys=(KeyConfig(key=KEY_A, proxy=f"socks5://u:{PASSWORD}@127.0.0.1:1080"),),
    )
    text = repr(config)
    for secret in (KEY_A, TOKEN, PASSWORD):
        assert secret not in text
    assert "http://user:***@127.0.0.1:3128" in text


def test_summary_masks_secrets() -> None:
    config = parse_config(
        {
            "auth": {"tokens": [TOKEN]},
            "upstream": {"proxy": f"http://user:{PASSWORD}@127.0.0.1:3128"},
            "keys": [KEY_A, {"key": KEY_B, "proxy": "socks5://127.0.0.1:1080"}, KEY_C],
            "models": {"allow": ["gemini-*"], "aliases": {"a": "b", "c": "d"}},
        }
    )
    lines = config_summary(config)
    text = "\n".join(lines)
    for secret in (KEY_A, KEY_B, KEY_C, TOKEN, PASSWORD):
        assert secret not in text
    assert lines[:4] == [
        "keys: 3 (3 via a proxy)",
        "proxies: http://user:***@127.0.0.1:3128, socks5://127.0.0.1:1080",
        "client tokens: 1",
        "upstream: https://generativelanguage.googleapis.com (connect 10s, read 120s)",
    ]
    assert "models: 1 allow, 0 deny, 2 aliases" in lines
    assert "retry: up to 3 attempts" in lines
    assert "listen: 127.0.0.1:8000" in lines


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("socks5://127.0.0.1:1080", None),
        ("socks4://proxy.local:1080", None),
        ("http://user:pass@10.0.0.2:3128", None),
        ("socks5h://127.0.0.1:1080", "unsupported scheme 'socks5h' (use socks4, socks5, http)"),
        ("https://127.0.0.1:3128", "unsupported scheme 'https' (use socks4, socks5, http)"),
        ("http://:3128", "proxy URL has no host"),
        ("http://127.0.0.1:99999", "proxy URL has an invalid host or port"),
        ("127.0.0.1:1080", "expected a proxy URL like socks5://127.0.0.1:1080"),
    ],
)
def test_proxy_url_problem(url: str, problem: str | None) -> None:
    assert proxy_url_problem(url) == problem


def test_models_aliases_are_read_only_and_config_hashable() -> None:
    models = ModelsConfig(aliases={"fast": "gemini-2.5-flash"})
    with pytest.raises(TypeError):
        models.aliases["x"] = "y"  # type: ignore[index]
    assert hash(Config(models=models)) == hash(Config(models=attrs.evolve(models)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("'false'", False), ("yes", True)],
)
def test_media_allow_private_is_a_strict_boolean(value: str, expected: bool) -> None:
    # YAML 1.1 reads a bare yes as true; a quoted "false" must not turn into True.
    data = yaml.safe_load(f"keys: [k1]\nmedia: {{allow_private: {value}}}")
    assert parse_config(data).media.allow_private is expected


def test_media_allow_private_rejects_other_strings() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"keys": ["k1"], "media": {"allow_private": "sure"}})
    assert str(caught.value) == "$.media.allow_private: expected true or false, got 'sure'"


def test_relative_sqlite_state_is_read_from_the_config_directory(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "gpool.yaml"
    config_file.parent.mkdir()
    config_file.write_text("keys: [k1]\n")
    assert load_config(config_file).state == f"sqlite:///{tmp_path / 'conf' / 'gpool.db'}"
    config_file.write_text("keys: [k1]\nstate: sqlite:////var/lib/gpool/state.db\n")
    assert load_config(config_file).state == "sqlite:////var/lib/gpool/state.db"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "postgres://db",
            "$.state: must be memory, sqlite:///path/to/gpool.db or redis://host:port/db",
        ),
        (
            "sqlite://relative",
            "$.state: must be memory, sqlite:///path/to/gpool.db or redis://host:port/db",
        ),
    ],
)
def test_bad_state_urls(state: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"keys": ["k1"], "state": state})
    assert str(caught.value) == message


def test_limits_and_pool_sections() -> None:
    data = yaml.safe_load(
        """
keys:
  - k1
  - {key: k2, limits: {gemini-2.5-flash: {rpm: 1000}}}
limits:
  gemini-2.5-flash: {rpm: 10, rpd: 250, tpm: 250000}
pool: {strategy: least_used, max_ejected_percent: 30}
"""
    )
    config = parse_config(data)
    assert config.limits["gemini-2.5-flash"].rpd == 250
    assert config.keys[1].limits["gemini-2.5-flash"].rpm == 1000
    assert config.pool.strategy == "least_used"
    with pytest.raises(ConfigError) as caught:
        parse_config({"keys": ["k1"], "limits": {"m": {"rpm": 0}}, "pool": {"strategy": "random"}})
    assert sorted(caught.value.problems) == [
        "$.limits['m'].rpm: must be at least 1, got 0",
        "$.pool.strategy: must be one of round_robin, least_used, weighted; got 'random'",
    ]
