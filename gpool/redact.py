"""Masking helpers: the only way a secret is ever shown."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_key", "mask_url", "redact"]

_ELLIPSIS = "…"


def mask_key(secret: str) -> str:
    """Show a key or token as its first and last four characters (``AIza…f3Qx``)."""
    if len(secret) < 12:
        return _ELLIPSIS + secret[-2:] if len(secret) > 4 else _ELLIPSIS
    return f"{secret[:4]}{_ELLIPSIS}{secret[-4:]}"


def mask_url(url: str) -> str:
    """Hide the password of a proxy URL (``http://user:***@host:3128``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every occurrence of each secret in ``text`` by its masked form."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, mask_key(secret))
    return text
