"""Load config.yaml into a ``Config``: env substitution, keys_file, dedup, readable errors."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import attrs
import cattrs
import yaml
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from gpool.config import Config, FieldError, KeyConfig
from gpool.errors import GpoolError
from gpool.redact import mask_key, mask_url

__all__ = ["ConfigError", "config_summary", "load_config", "parse_config"]

log = logging.getLogger("gpool.config")

_ENV_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

Problem = tuple[str, str]  # (path, message)


class ConfigError(GpoolError):
    """The configuration is unusable; ``problems`` holds one ``$.path: message`` line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(self.problems)


def _join(path: str, key: object) -> str:
    """Extend a ``$.a.b[0]`` path by a field name (``.x``) or an item (``[0]``, ``['k']``)."""
    if isinstance(key, str) and _ENV_NAME.fullmatch(key):
        return f"{path}.{key}"
    return _item(path, key)


def _item(path: str, key: object) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}[{key!r}]"


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "nothing (null)"),
    (bool, "a boolean"),
    ((int, float), "a number (quote it to make it a string)"),
    (str, "a string"),
    ((list, tuple), "a list"),
    (Mapping, "a mapping"),
)


def _kind(value: object) -> str:
    """Name what ``value`` is without showing it (it may be a secret)."""
    return next((kind for t, kind in _KINDS if isinstance(value, t)), type(value).__name__)


def _show(value: object) -> str:
    """Show a non-secret scalar; long strings stay hidden in case a secret landed there."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float) or (isinstance(value, str) and len(value) <= 20):
        return repr(value)
    return _kind(value)


def _structure_str(value: object, _: type) -> str:
    # Never shows the value: this hook also structures keys and tokens.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_kind(value)}")
    return value


def _structure_int(value: object, _: type) -> int:
    # bool is an int subclass, and YAML turns `yes` into True.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):  # e.g. port: ${PORT}
        return int(value)
    raise TypeError(f"expected an integer, got {_show(value)}")


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    raise TypeError(f"expected a number, got {_show(value)}")


def _structure_bool(value: object, _: type) -> bool:
    # cattrs' default is bool(value), which would read the string "false" as True.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # e.g. ${ALLOW}
        return value.lower() == "true"
    raise TypeError(f"expected true or false, got {_show(value)}")


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)

    def tuple_hook(t: Any) -> Callable[[object, Any], tuple[Any, ...]]:
        from_list = homogenous_tuple_structure_factory(t, conv)

        def structure(value: object, _: Any) -> tuple[Any, ...]:
            # A bare string would otherwise become a tuple of characters.
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a list, got {_kind(value)}")
            return from_list(value, t)  # type: ignore[no-any-return]

        return structure

    def attrs_hook(cl: Any) -> Callable[[object, Any], Any]:
        from_dict = make_dict_structure_fn(cl, conv)

        def structure(value: object, t: Any) -> Any:
            if cl is KeyConfig and isinstance(value, str):
                return KeyConfig(key=value)
            if not isinstance(value, Mapping):
                want = "a key string or a mapping" if cl is KeyConfig else "a mapping"
                raise TypeError(f"expected {want}, got {_kind(value)}")
            return from_dict(value, t)

        return structure

    def is_tuple_of(t: Any) -> bool:
        return get_origin(t) is tuple and get_args(t)[1:] == (...,)

    conv.register_structure_hook_factory(is_tuple_of, tuple_hook)
    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    return conv


_CONVERTER = _make_converter()


def _problems(exc: BaseException, path: str) -> list[Problem]:
    """Flatten cattrs' exception tree into (path, message) pairs, keeping our messages."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        out: list[Problem] = []
        for sub, note in with_notes:
            if isinstance(note, IterableValidationNote):
                out += _problems(sub, _item(path, note.index))
            else:
                out += _problems(sub, _join(path, note.name))
        for sub in without:
            out += _problems(sub, path)
        return out
    if isinstance(exc, ForbiddenExtraKeysError):
        # A key pasted where a field name belongs must not be echoed back.
        names = sorted(mask_key(n) if len(n) > 24 else n for n in map(str, exc.extra_fields))
        return [(path, f"unknown field '{name}'") for name in names]
    if isinstance(exc, FieldError):
        field = _join(path, exc.field)
        return [(field if exc.index is None else _item(field, exc.index), exc.message)]
    if isinstance(exc, AttributeError) and str(exc).endswith("has no attribute 'items'"):
        return [(path, "expected a mapping")]  # cattrs' dict hook met a non-mapping
    if isinstance(exc, KeyError):
        return [(path, "required field missing")]
    if isinstance(exc, ValueError | TypeError):
        return [(path, str(exc))]
    return [(path, f"invalid value ({type(exc).__name__})")]


def _substitute(value: object, path: str, env: Mapping[str, str], bad: list[Problem]) -> object:
    """Replace ``${VAR}`` in every string; ``$${`` stands for a literal ``${``."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "${"
            if not _ENV_NAME.fullmatch(name):
                bad.append((path, "invalid ${...} reference (names use letters, digits and _)"))
            elif name in env:
                return env[name]
            else:
                bad.append((path, f"environment variable '{name}' is not set"))
            return match.group(0)

        return _ENV_REF.sub(replace, value)
    if isinstance(value, list):
        return [_substitute(item, _join(path, i), env, bad) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: _substitute(v, _join(path, k), env, bad) for k, v in value.items()}
    return value


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _read_keys_file(value: object, base_dir: Path | None, bad: list[Problem]) -> list[str]:
    where = "$.keys_file"
    if not isinstance(value, str):
        bad.append((where, f"expected a file path, got {_kind(value)}"))
        return []
    path = Path(value).expanduser()
    if base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        bad.append((where, f"cannot read {value!r}: {_reason(exc)}"))
        return []
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.split("#", 1)[0].strip()
        if any(ch.isspace() for ch in key):
            bad.append((where, f"line {number}: key must not contain whitespace"))
        elif key:
            keys.append(key)
    return keys


def _dedup(keys: tuple[KeyConfig, ...]) -> tuple[KeyConfig, ...]:
    seen: set[str] = set()
    kept = []
    for index, entry in enumerate(keys):
        if entry.key in seen:
            log.warning("duplicate key %s removed (keys[%d])", mask_key(entry.key), index)
        else:
            seen.add(entry.key)
            kept.append(entry)
    return tuple(kept)


def parse_config(
    data: object, *, base_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Turn parsed YAML into a ``Config``, or raise ``ConfigError`` listing every problem.

    ``keys_file`` is read relative to ``base_dir`` (else the working directory).
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["$: expected a mapping"])
    env_problems: list[Problem] = []
    environ = os.environ if env is None else env
    # A section left empty in YAML (`cors:`) means "use the defaults".
    data = {
        k: _substitute(v, _join("$", k), environ, env_problems)
        for k, v in data.items()
        if v is not None
    }
    problems: list[Problem] = []

    file_keys: list[str] = []
    if "keys_file" in data:
        file_keys = _read_keys_file(data.pop("keys_file"), base_dir, problems)
    raw_keys = data.get("keys", [])
    if isinstance(raw_keys, list):
        data["keys"] = raw_keys + file_keys
        if not data["keys"]:
            problems.append(("$.keys", "no API keys configured (add keys or keys_file)"))

    config = None
    try:
        config = _CONVERTER.structure(data, Config)
    except Exception as exc:
        missing = [path for path, _ in env_problems]
        problems[:0] = [
            (path, message)
            for path, message in _problems(exc, "$")
            # A value whose variable is missing fails for that reason alone.
            if not any(path == m or path.startswith((f"{m}.", f"{m}[")) for m in missing)
        ]
    problems[:0] = env_problems
    if problems or config is None:
        raise ConfigError(f"{path}: {message}" for path, message in problems)
    return attrs.evolve(config, keys=_dedup(config.keys), state=_anchor(config.state, base_dir))


def _anchor(state: str, base_dir: Path | None) -> str:
    """A relative sqlite path is read from the config file's directory, not the cwd."""
    prefix = "sqlite:///"
    if base_dir is None or not state.startswith(prefix):
        return state
    path = Path(state.removeprefix(prefix))
    return state if path.is_absolute() else prefix + str((base_dir / path).resolve())


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and parse a YAML config file; ``env`` (default ``os.environ``) fills ``${VAR}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{os.fspath(path)}: cannot read config file: {_reason(exc)}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = os.fspath(path)
        if mark is not None:
            where = f"{where}:{mark.line + 1}:{mark.column + 1}"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    return parse_config(data, base_dir=Path(path).parent, env=env)


def config_summary(config: Config) -> list[str]:
    """Describe ``config`` for ``gpool check-config``, with every secret masked."""
    proxies = [key.proxy or config.upstream.proxy for key in config.keys]
    distinct = sorted({mask_url(p) for p in proxies if p is not None})
    models = config.models
    return [
        f"keys: {len(config.keys)} ({sum(p is not None for p in proxies)} via a proxy)",
        f"proxies: {', '.join(distinct) or 'none (direct)'}",
        f"client tokens: {len(config.auth.tokens)}",
        f"upstream: {mask_url(config.upstream.base_url)}"
        f" (connect {config.upstream.connect_timeout:g}s, read {config.upstream.read_timeout:g}s)",
        f"listen: {config.server.host}:{config.server.port}",
        f"models: {len(models.allow)} allow, {len(models.deny)} deny,"
        f" {len(models.aliases)} aliases",
        f"retry: up to {config.retry.max_attempts} attempts",
        f"cors: {', '.join(config.cors.allow_origins) or 'off'}",
        f"media fetching: up to {config.media.max_mb} MiB, {config.media.timeout:g}s,"
        f" private addresses {'allowed' if config.media.allow_private else 'refused'}",
        f"log: {config.log.level}, {config.log.format}",
    ]
