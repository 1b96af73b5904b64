"""Which models clients may use, and the aliases that rename them: allow, deny, alias."""

from __future__ import annotations

import fnmatch
import re

from gpool.config import ModelsConfig

__all__ = ["ModelPolicy"]


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


class ModelPolicy:
    """Allow and deny globs, checked on bare model ids (``gemini-2.5-flash``)."""

    def __init__(self, config: ModelsConfig) -> None:
        self._allow = _compile(config.allow)
        self._deny = _compile(config.deny)
        self.aliases: dict[str, str] = dict(config.aliases)

    def allowed(self, model: str) -> bool:
        if self._deny is not None and self._deny.match(model):
            return False
        return self._allow is None or self._allow.match(model) is not None

    def upstream_name(self, model: str) -> str | None:
        """The upstream model behind a client-visible name, or None if it is not offered.

        An alias is the operator's explicit choice, so it is offered whatever the globs say.
        """
        target = self.aliases.get(model)
        if target is not None:
            return target
        return model if self.allowed(model) else None
