"""Each key's Google Cloud project: its files, cached contents and pending uploads."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from datetime import UTC, datetime
from typing import Any

import attrs
from aiohttp import web

from .faults import fault_body, invalid_argument, no_key_error
from .keys import fault_of
from .reading import pick
from .state import CALL
from .wire import FakeError, error_response, json_response

__all__ = [
    "FAKE_PROJECTS",
    "FakeCache",
    "FakeFile",
    "FakeUpload",
    "Projects",
    "cache_denied",
    "check_references",
    "file_denied",
    "refuse_key",
    "timestamp",
]

FILE_LIFETIME = 48 * 3600  # Google keeps an uploaded file for 48 hours
_FILE_URI = re.compile(r"^(?:https?://[^/]+/(?:v1beta|v1alpha|v1)/)?files/([^/?#:]+)$")
_CACHE_NAME = re.compile(r"^cachedContents/([^/?#:]+)$")


def timestamp(when: float) -> str:
    """RFC 3339 with microseconds, as Google renders a ``google.protobuf.Timestamp``."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.define(kw_only=True)
class FakeFile:
    id: str
    project: str = attrs.field(repr=False)  # the key that created it
    display_name: str | None
    mime_type: str
    data: bytes = attrs.field(repr=False)
    created: float

    def to_json(self, origin: str) -> dict[str, Any]:
        digest = hashlib.sha256(self.data).hexdigest().encode()
        entry: dict[str, Any] = {"name": f"files/{self.id}"}
        if self.display_name:
            entry["displayName"] = self.display_name
        entry |= {
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": timestamp(self.created),
            "updateTime": timestamp(self.created),
            "expirationTime": timestamp(self.created + FILE_LIFETIME),
            "sha256Hash": base64.b64encode(digest).decode(),
            "uri": f"{origin}/v1beta/files/{self.id}",
            "state": "ACTIVE",
            "source": "UPLOADED",
        }
        return entry


@attrs.define(kw_only=True)
class FakeCache:
    id: str
    project: str = attrs.field(repr=False)
    model: str
    display_name: str | None
    tokens: int
    created: float
    updated: float
    expires: float

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": f"cachedContents/{self.id}", "model": self.model}
        entry |= {
            "createTime": timestamp(self.created),
            "updateTime": timestamp(self.updated),
            "expireTime": timestamp(self.expires),
        }
        if self.display_name:
            entry["displayName"] = self.display_name
        entry["usageMetadata"] = {"totalTokenCount": self.tokens}
        return entry


@attrs.define(kw_only=True)
class FakeUpload:
    """A resumable upload between its start and its finalize."""

    project: str = attrs.field(repr=False)
    display_name: str | None
    mime_type: str
    wanted: str | None = None  # the file id the client asked for
    declared: int | None = None  # X-Goog-Upload-Header-Content-Length
    received: bytearray = attrs.Factory(bytearray)


@attrs.define
class Projects:
    """Everything the fake's projects own; ids are unique across projects."""

    files: dict[str, FakeFile] = attrs.Factory(dict)
    caches: dict[str, FakeCache] = attrs.Factory(dict)
    uploads: dict[str, FakeUpload] = attrs.Factory(dict)
    _serial: int = 0

    def new_id(self, length: int = 12) -> str:
        """A random-looking, deterministic id of lower-case letters and digits."""
        self._serial += 1
        digest = hashlib.blake2b(self._serial.to_bytes(8, "big"), digest_size=16).digest()
        return base64.b32encode(digest).decode().lower()[:length]

    def file_of(self, project: str, file_id: str) -> FakeFile | None:
        found = self.files.get(file_id)
        return found if found is not None and found.project == project else None

    def cache_of(self, project: str, cache_id: str) -> FakeCache | None:
        found = self.caches.get(cache_id)
        if found is None or found.project != project:
            return None
        if found.expires <= time.time():
            del self.caches[cache_id]
            return None
        return found


FAKE_PROJECTS: web.AppKey[Projects] = web.AppKey("gpool_fake_projects", Projects)


def refuse_key(request: web.Request) -> web.Response | None:
    """The answer for a missing, invalid or suspended key, before anything else is looked at."""
    key = request[CALL].key
    if key is None:
        return error_response(no_key_error())
    fault = fault_of(key)
    if fault == "invalid":
        return json_response(fault_body(fault, None, None, 0.0), 400)
    if fault == "suspended":
        return json_response(fault_body(fault, None, None, 0.0), 403)
    return None


def file_denied(file_id: str) -> FakeError:
    return FakeError(
        403, f"You do not have permission to access the File {file_id} or it may not exist."
    )


def cache_denied(cache_id: str) -> FakeError:
    return FakeError(403, f"CachedContent not found (or permission denied): {cache_id}")


def _file_uris(node: Any) -> list[str]:
    """Every ``fileData.fileUri`` anywhere in a request body, either spelling."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            data = pick(item, "fileData")
            uri = pick(data, "fileUri")
            if isinstance(uri, str):
                found.append(uri)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def check_files(body: Any, project: str, projects: Projects) -> None:
    """403 for a Files API uri of another project or of no file at all."""
    for uri in _file_uris(body):
        match = _FILE_URI.match(uri)
        if match and projects.file_of(project, match.group(1)) is None:
            raise file_denied(match.group(1))


def check_references(body: dict[str, Any], model: str, project: str, projects: Projects) -> None:
    """What Google checks before generating with files and a cached content."""
    check_files(body, project, projects)
    inner = pick(body, "generateContentRequest")
    request = inner if isinstance(inner, dict) else body
    cached = pick(request, "cachedContent")
    if cached is None:
        return
    match = _CACHE_NAME.match(cached) if isinstance(cached, str) else None
    if match is None:
        raise invalid_argument(f"Invalid cached content name: {str(cached)[:64]}", "cached_content")
    cache = projects.cache_of(project, match.group(1))
    if cache is None:
        raise cache_denied(match.group(1))
    if cache.model != f"models/{model}":
        raise invalid_argument(
            f"Model used by GenerateContent request (models/{model}) and CachedContent "
            f"({cache.model}) has to be the same."
        )
    for field in ("systemInstruction", "tools", "toolConfig"):
        if pick(request, field) is not None:
            raise invalid_argument(
                "CachedContent can not be used with GenerateContent request setting "
                "system_instruction, tools or tool_config.\n\nProposed fix: move those values "
                "to CachedContent from GenerateContent request."
            )
