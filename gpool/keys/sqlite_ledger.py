"""``state: sqlite:///path``: key health, day counts and resource owners kept in a file.

Counting stays in memory on the hot path; what must survive a restart is written behind,
about once a second, by a worker thread in WAL mode, so the event loop never waits on
the disk and a SIGKILL loses at most the last second and corrupts nothing. Each flush
also reads back what other processes on the same file wrote (``gpool serve --workers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gpool.keys.ledger import MemoryLedger
from gpool.keys.limits import Limit
from gpool.resources import MemoryResources, ResourceOwner

if TYPE_CHECKING:
    from gpool.keys.pool import KeyPool, PoolKey

__all__ = ["SqliteLedger"]

log = logging.getLogger("gpool.state")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS key_health (
    key_id TEXT PRIMARY KEY, disabled TEXT, ejected_until REAL NOT NULL,
    ejections INTEGER NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cooldowns (
    key_id TEXT NOT NULL, model TEXT NOT NULL, until REAL NOT NULL, PRIMARY KEY (key_id, model)
);
CREATE TABLE IF NOT EXISTS day_counts (
    key_id TEXT NOT NULL, model TEXT NOT NULL, day_end REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (key_id, model)
);
CREATE TABLE IF NOT EXISTS resources (
    name TEXT PRIMARY KEY, key_id TEXT NOT NULL, client TEXT NOT NULL, updated REAL NOT NULL
);
"""

_Health = tuple[str, str | None, float, int, list[tuple[str, float]]]


class _WrittenResources(MemoryResources):
    """The resource map, in memory and queued for the file."""

    def __init__(self, ledger: SqliteLedger) -> None:
        super().__init__()
        self._ledger = ledger

    def load(self, name: str, owner: ResourceOwner) -> None:
        """Restore an entry read from the file (not queued to be written again)."""
        self._owners[name] = owner

    async def remember(self, name: str, owner: ResourceOwner) -> None:
        await super().remember(name, owner)
        self._ledger.queue_resource(name, owner)

    async def forget(self, name: str) -> None:
        await super().forget(name)
        self._ledger.queue_resource(name, None)


class SqliteLedger(MemoryLedger):
    def __init__(self, path: str | Path, *, flush_every: float = 1.0) -> None:
        super().__init__()
        self.path = Path(path)
        self._owners = _WrittenResources(self)
        self.resources = self._owners
        self._flush_every = flush_every
        self._db: sqlite3.Connection | None = None
        self._dirty_keys: dict[str, PoolKey] = {}
        self._dirty_days: set[tuple[str, str]] = set()
        self._dirty_resources: dict[str, ResourceOwner | None] = {}
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._pool: KeyPool | None = None
        self._seen = 0.0  # rows updated after this were not read back yet

    async def start(self, pool: KeyPool) -> None:
        self._pool = pool
        self._db = await asyncio.to_thread(self._open)
        self._seen = time.time()
        health, days, owners = await asyncio.to_thread(self._load, 0.0)
        now = time.time()
        self._apply(health, owners, now)
        for key_id, model, day_end, count in days:
            self.windows.restore_day(key_id, model, day_end, count, now)
        off = sum(1 for k in pool.keys if k.disabled is not None)
        log.info("state loaded from %s: %d keys disabled", self.path, off)
        self._writer = asyncio.create_task(self._write_behind())

    def _apply(self, health: list[_Health], owners: list[tuple[str, str, str]], now: float) -> None:
        assert self._pool is not None  # noqa: S101 - set by start()
        for key_id, disabled, ejected_until, ejections, cooldowns in health:
            key = self._pool.by_id(key_id)
            if key is None or key.key_id in self._dirty_keys:
                continue  # a key no longer configured, or one changed here since
            key.disabled, key.ejected_until, key.ejections = disabled, ejected_until, ejections
            for model, until in cooldowns:
                if until > max(now, key.cooldowns.get(model, 0.0)):
                    key.cooldowns[model] = until
        for name, key_id, client in owners:
            self._owners.load(name, ResourceOwner(key_id, client))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()
        if self._db is not None:
            await asyncio.to_thread(self._db.close)
            self._db = None

    async def reserve(self, key: PoolKey, model: str, limit: Limit | None, now: float) -> float:
        wait = await super().reserve(key, model, limit, now)
        if wait == 0 and limit is not None and limit.rpd is not None:
            self._dirty_days.add((key.key_id, model))
        return wait

    def health_changed(self, key: PoolKey) -> None:
        self._dirty_keys[key.key_id] = key

    def queue_resource(self, name: str, owner: ResourceOwner | None) -> None:
        self._dirty_resources[name] = owner

    async def flush(self) -> None:
        """Write what changed since the last flush, in one transaction, off the loop."""
        async with self._lock:
            if self._db is None:
                return
            health = [_health_row(k) for k in self._dirty_keys.values()]
            days = [
                (key_id, model, day_end, count)
                for key_id, model, day_end, count in self.windows.daily_counts()
                if (key_id, model) in self._dirty_days
            ]
            resources = dict(self._dirty_resources)
            self._dirty_keys.clear()
            self._dirty_days.clear()
            self._dirty_resources.clear()
            if health or days or resources:
                await asyncio.to_thread(self._write, health, days, resources)

    async def refresh(self) -> None:
        """Read back what other processes wrote to the file since the last look."""
        async with self._lock:
            if self._db is None:
                return
            since, self._seen = self._seen, time.time()
            health, _, owners = await asyncio.to_thread(self._load, since - 1.0)
            self._apply(health, owners, time.time())

    async def _write_behind(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush()
                await self.refresh()
            except sqlite3.Error as exc:
                log.error("could not write state to %s: %s", self.path, exc)

    # The methods below run in a worker thread.

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        return db

    def _load(
        self, since: float
    ) -> tuple[list[_Health], list[tuple[str, str, float, int]], list[tuple[str, str, str]]]:
        """Rows updated after ``since`` (every row for 0)."""
        db = self._db
        assert db is not None  # noqa: S101 - opened before any load
        rows = list(
            db.execute(
                "SELECT key_id, disabled, ejected_until, ejections FROM key_health"
                " WHERE updated > ?",
                (since,),
            )
        )
        cooldowns: dict[str, list[tuple[str, float]]] = {}
        for key_id, model, until in db.execute(
            "SELECT c.key_id, c.model, c.until FROM cooldowns c JOIN key_health h"
            " USING (key_id) WHERE h.updated > ?",
            (since,),
        ):
            cooldowns.setdefault(key_id, []).append((model, until))
        health = [(k, d, e, n, cooldowns.get(k, [])) for k, d, e, n in rows]
        days = list(db.execute("SELECT key_id, model, day_end, count FROM day_counts"))
        owners = list(
            db.execute("SELECT name, key_id, client FROM resources WHERE updated > ?", (since,))
        )
        return health, days, owners

    def _write(
        self,
        health: list[_Health],
        days: list[tuple[str, str, float, int]],
        resources: dict[str, ResourceOwner | None],
    ) -> None:
        assert self._db is not None  # noqa: S101 - checked by flush()
        db = self._db
        now = time.time()
        with db:
            db.execute("BEGIN")
            for key_id, disabled, ejected_until, ejections, cooldowns in health:
                db.execute(
                    "INSERT OR REPLACE INTO key_health VALUES (?, ?, ?, ?, ?)",
                    (key_id, disabled, ejected_until, ejections, now),
                )
                db.execute("DELETE FROM cooldowns WHERE key_id = ?", (key_id,))
                db.executemany(
                    "INSERT INTO cooldowns VALUES (?, ?, ?)",
                    [(key_id, model, until) for model, until in cooldowns],
                )
            db.executemany("INSERT OR REPLACE INTO day_counts VALUES (?, ?, ?, ?)", days)
            for name, owner in resources.items():
                if owner is None:
                    db.execute("DELETE FROM resources WHERE name = ?", (name,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?)",
                        (name, owner.key_id, owner.client, now),
                    )


def _health_row(key: PoolKey) -> _Health:
    cooldowns = [(model, until) for model, until in key.cooldowns.items()]
    return key.key_id, key.disabled, key.ejected_until, key.ejections, cooldowns
