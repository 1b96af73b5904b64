"""Demo mode: gpool in front of its built-in fake upstream, with a few deliberately bad keys."""

from __future__ import annotations

from gpool.config import (
    AuthConfig,
    Config,
    KeyConfig,
    RetryConfig,
    ServerConfig,
    UpstreamConfig,
)
from gpool.fake import fake_key

__all__ = ["DEMO_TOKEN", "demo_config", "demo_instructions"]

#: The client token of the demo; it guards nothing but the demo itself.
DEMO_TOKEN = "sk-gpool-demo"  # noqa: S105

# Faulty keys come first, so the very first requests show failover in the log; enough
# attempts that a request always reaches a healthy key.
_DEMO_KEYS = ("invalid", "rpm", "ok", "overloaded", "flaky", "ok", "suspended", "rpd")


def demo_config(upstream_url: str, *, host: str, port: int) -> Config:
    keys = tuple(
        KeyConfig(key=fake_key(fault, n), name=f"demo-{n}-{fault}")
        for n, fault in enumerate(_DEMO_KEYS, start=1)
    )
    return Config(
        server=ServerConfig(host=host, port=port),
        auth=AuthConfig(tokens=(DEMO_TOKEN,)),
        upstream=UpstreamConfig(base_url=upstream_url),
        keys=keys,
        retry=RetryConfig(max_attempts=len(keys)),
        state="memory",
    )


def demo_instructions(base: str, upstream_url: str) -> str:
    auth = f"-H 'x-goog-api-key: {DEMO_TOKEN}'"
    prompt = '{"contents":[{"parts":[{"text":"Hello [chunks=5]"}]}]}'
    body = f"-H 'Content-Type: application/json' -d '{prompt}'"
    names = ", ".join(sorted(set(_DEMO_KEYS)))
    return f"""
gpool demo: serving on {base}
  upstream: the built-in fake Gemini API at {upstream_url}
  keys: {len(_DEMO_KEYS)} demo keys ({names}); watch the log fail over past the bad ones
  client token: {DEMO_TOKEN}

Try:
  curl -s {base}/v1beta/models/gemini-2.5-flash:generateContent {auth} {body}
  curl -sN '{base}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' {auth} {body}
  curl -s '{base}/v1beta/models?pageSize=5' {auth}
  curl -s {base}/healthz
"""
