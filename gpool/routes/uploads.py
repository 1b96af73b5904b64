"""File uploads: Google's resumable protocol through gpool, with the session pinned to its key.

The upstream upload URL never reaches the client: gpool hands out its own URL with an
opaque session id and keeps the mapping in this process's memory. Like Google's, that URL
is the credential (google-genai sends no key with the bytes): it is public to auth, and
what it uploads belongs to the client that started it. Resumable sessions do not survive
a restart and are not shared between workers; a client whose session is lost gets a 404
and starts the upload again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from aiohttp import web
from attrs import frozen
from multidict import CIMultiDict
from yarl import URL

from gpool.relay import relay, upstream_headers
from gpool.routes import RouteInfo
from gpool.routes.owned import VERSION, ResourceNotFound, buffered, client_of, remember
from gpool.state import KEY, RESPONSE_HEADERS, UPSTREAM
from gpool.upstream import UpstreamResponse

__all__ = [
    "ROUTES",
    "SESSION_ROUTE",
    "UploadSession",
    "UploadSessions",
    "find_session",
    "mark_final",
    "sessions",
]

START_ROUTE = "files.upload"
SESSION_ROUTE = "files.upload_session"
# Upstream headers that would let a client reach the upstream upload past gpool.
_HIDDEN = ("X-Goog-Upload-URL", "X-Goog-Upload-Control-URL", "X-GUploader-UploadID")
_STATUS = "X-Goog-Upload-Status"


@frozen
class UploadSession:
    """A resumable upload gpool started: its key, its client and where it continues upstream."""

    key_id: str
    client: str
    path: str  # upstream path, relative to the upstream base URL
    query: tuple[tuple[str, str], ...]
    created: float


class UploadSessions:
    """Open upload sessions of one gpool app, by opaque id; Google's last a week at most."""

    def __init__(
        self,
        *,
        ttl: float = 7 * 86400,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._open: dict[str, UploadSession] = {}

    def now(self) -> float:
        return self._clock()

    def open(self, session: UploadSession) -> str:
        """Keep ``session``; return its new id. The oldest sessions go beyond ``limit``."""
        for stale in [sid for sid, s in self._open.items() if self._expired(s)]:
            del self._open[stale]
        while len(self._open) >= self._limit:
            del self._open[next(iter(self._open))]
        session_id = secrets.token_urlsafe(24)
        self._open[session_id] = session
        return session_id

    def get(self, session_id: str) -> UploadSession | None:
        session = self._open.get(session_id)
        if session is not None and self._expired(session):
            del self._open[session_id]
            return None
        return session

    def close(self, session_id: str) -> None:
        self._open.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._open)

    def _expired(self, session: UploadSession) -> bool:
        return self._clock() - session.created > self._ttl


# Per app, so that two gpools in one process share nothing, without touching frozen app state.
_BY_APP: WeakKeyDictionary[web.Application, UploadSessions] = WeakKeyDictionary()


def sessions(app: web.Application) -> UploadSessions:
    """The upload sessions of ``app`` (a gpool app, mounted or not)."""
    found = _BY_APP.get(app)
    if found is None:
        found = _BY_APP[app] = UploadSessions()
    return found


def find_session(request: web.Request) -> UploadSession | None:
    """The open session a continuation names; its unguessable id is the credential."""
    return sessions(request.app).get(request.match_info["session"])


def mark_final(request: web.Request) -> None:
    """Tell the client the upload is over, so google-genai reports gpool's error at once.

    Without ``X-Goog-Upload-Status`` the SDK would resend the same chunk three times.
    """
    headers = request.get(RESPONSE_HEADERS)
    if headers is not None:
        headers[_STATUS] = "final"


def _unmark(request: web.Request) -> None:
    headers = request.get(RESPONSE_HEADERS)
    if headers is not None:
        headers.pop(_STATUS, None)  # the upstream's own status says it from here


def _client_headers(answer: UpstreamResponse) -> CIMultiDict[str]:
    headers = upstream_headers(answer.headers)
    for name in _HIDDEN:
        headers.popall(name, None)
    return headers


async def _finish(
    request: web.Request, answer: UpstreamResponse, headers: CIMultiDict[str], client: str
) -> web.StreamResponse:
    """The upload is complete: remember who owns the new file, then answer with it."""
    raw, data = await buffered(answer, request[KEY])
    file = data.get("file") if isinstance(data, dict) else None
    await remember(request, file.get("name") if isinstance(file, dict) else None, client)
    return web.Response(status=answer.status, reason=answer.reason, body=raw, headers=headers)


async def start_upload(request: web.Request) -> web.StreamResponse:
    """POST /upload/{v}/files: start a resumable upload (or do a multipart one) on a pool key."""
    version = request.match_info["version"]
    key = request[KEY]
    async with request.app[UPSTREAM].open(
        key,
        "POST",
        f"/upload/{version}/files",
        query=request.query.items(),
        headers=request.headers,
        body=await request.read(),
    ) as answer:
        headers = _client_headers(answer)
        upload_url = answer.headers.get("X-Goog-Upload-URL")
        if answer.body is not None:
            return await relay(request, answer, headers=headers)
        if upload_url:
            target = URL(upload_url)
            base_path = request.app[UPSTREAM].url("").path.rstrip("/")
            # The upstream base is where every key's requests go; only the path is kept.
            path = target.path.removeprefix(base_path) if base_path else target.path
            table = sessions(request.app)
            session = UploadSession(
                key.key_id, client_of(request), path, tuple(target.query.items()), table.now()
            )
            session_id = table.open(session)
            ours = request.app.router[SESSION_ROUTE].url_for(version=version, session=session_id)
            headers["X-Goog-Upload-URL"] = str(request.url.join(ours))
            return await relay(request, answer, headers=headers)
        protocol = request.headers.get("X-Goog-Upload-Protocol", "").strip().lower()
        if answer.headers.get(_STATUS) == "final" or protocol != "resumable":
            return await _finish(request, answer, headers, client_of(request))  # multipart
        return await relay(request, answer, headers=headers)


async def continue_upload(request: web.Request) -> web.StreamResponse:
    """POST /upload/{v}/files/sessions/{session}: send bytes on, on the session's key."""
    session_id = request.match_info["session"]
    session = find_session(request)
    if session is None:
        mark_final(request)
        raise ResourceNotFound("The upload session was not found or has expired.")
    async with request.app[UPSTREAM].open(
        request[KEY],
        "POST",
        session.path,
        query=[*session.query, *request.query.items()],
        headers=request.headers,
        body=await request.read(),
    ) as answer:
        _unmark(request)
        headers = _client_headers(answer)
        status = answer.headers.get(_STATUS, "")
        if status != "active":
            sessions(request.app).close(session_id)
        if answer.body is None and status == "final":
            return await _finish(request, answer, headers, session.client)
        return await relay(request, answer, headers=headers)


ROUTES = (
    (
        START_ROUTE,
        "POST",
        f"/upload/{VERSION}/files",
        start_upload,
        RouteInfo("google", keyed=True),
    ),
    (
        SESSION_ROUTE,
        "POST",
        f"/upload/{VERSION}/files/sessions/{{session:[A-Za-z0-9_-]+}}",
        continue_upload,
        RouteInfo("google", keyed=True, public=True),  # the session id is the credential
    ),
)
