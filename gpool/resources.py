"""Who owns each file and cached content: the key (Google project) and the client."""

from __future__ import annotations

from typing import Protocol

from attrs import frozen

__all__ = ["MemoryResources", "ResourceMap", "ResourceOwner"]


@frozen
class ResourceOwner:
    key_id: str  # PoolKey.key_id of the key that created it
    client: str  # the client identity that created it (request[CLIENT])


class ResourceMap(Protocol):
    """Maps resource names (``files/abc``, ``cachedContents/xyz``) to their owner."""

    async def owner(self, name: str) -> ResourceOwner | None: ...

    async def remember(self, name: str, owner: ResourceOwner) -> None: ...

    async def forget(self, name: str) -> None: ...

    async def names_for(self, client: str, prefix: str) -> list[tuple[str, ResourceOwner]]:
        """Every resource of ``client`` whose name starts with ``prefix``."""
        ...


class MemoryResources:
    """The map kept in this process only (``state: memory``)."""

    def __init__(self) -> None:
        self._owners: dict[str, ResourceOwner] = {}

    async def owner(self, name: str) -> ResourceOwner | None:
        return self._owners.get(name)

    async def remember(self, name: str, owner: ResourceOwner) -> None:
        self._owners[name] = owner

    async def forget(self, name: str) -> None:
        self._owners.pop(name, None)

    async def names_for(self, client: str, prefix: str) -> list[tuple[str, ResourceOwner]]:
        return [
            (name, owner)
            for name, owner in self._owners.items()
            if owner.client == client and name.startswith(prefix)
        ]
