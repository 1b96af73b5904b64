"""The fake Files API: resumable and multipart uploads, list, get and delete, per project."""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import re
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web

from .faults import invalid_argument
from .projects import FAKE_PROJECTS, FakeFile, FakeUpload, Projects, file_denied, refuse_key
from .reading import parse_body, pick
from .state import CALL
from .wire import FakeError, error_response, json_response, pretty

__all__ = ["add_file_routes", "page_of"]

_T = TypeVar("_T")
_GRANULARITY = str(8 * 1024 * 1024)
_FILE_ID = re.compile(r"^[a-z0-9-]{1,40}$")
_TEXT_HEADERS = {"Content-Type": "text/plain; charset=utf-8"}


def page_of(
    items: Sequence[_T], query: Any, default: int, maximum: int
) -> tuple[Sequence[_T], str | None]:
    """One page of ``items`` for ``pageSize``/``pageToken`` (either spelling) and the next token."""
    raw_size = query.get("pageSize") or query.get("page_size") or ""
    token = query.get("pageToken") or query.get("page_token") or ""
    if raw_size and not raw_size.lstrip("-").isdigit():
        raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size[:32]}\"")
    size = min(int(raw_size or 0), maximum) if raw_size else 0
    size = size if size > 0 else default
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except (ValueError, binascii.Error):
        start = -1
    if start < 0:
        raise invalid_argument("Invalid page token.")
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], following


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _final(response: web.Response) -> web.Response:
    response.headers["X-Goog-Upload-Status"] = "final"
    return response


def _metadata(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(display name, mime type, wanted id) from a ``{"file": {...}}`` start body."""
    meta = pick(body, "file")
    if meta is None:
        return None, None, None
    if not isinstance(meta, dict):
        raise invalid_argument('Invalid JSON payload received. Unknown name "file".')
    name = pick(meta, "name")
    wanted = name.removeprefix("files/") if isinstance(name, str) and name else None
    if wanted is not None and not _FILE_ID.match(wanted):
        raise invalid_argument(
            f"Invalid file name: {name}. Names must be lower-case letters, digits and dashes."
        )
    display, mime = pick(meta, "displayName"), pick(meta, "mimeType")
    return (
        display if isinstance(display, str) else None,
        mime if isinstance(mime, str) else None,
        wanted,
    )


def _new_file(projects: Projects, upload: FakeUpload, data: bytes) -> FakeFile:
    file_id = upload.wanted or projects.new_id()
    if file_id in projects.files:
        raise FakeError(409, f"File files/{file_id} already exists.")
    file = FakeFile(
        id=file_id,
        project=upload.project,
        display_name=upload.display_name,
        mime_type=upload.mime_type,
        data=data,
        created=time.time(),
    )
    projects.files[file_id] = file
    return file


def _start(request: web.Request, projects: Projects) -> web.Response:
    headers = request.headers
    if headers.get("X-Goog-Upload-Command", "").strip().lower() != "start":
        raise invalid_argument("A resumable upload must begin with X-Goog-Upload-Command: start.")
    display, mime, wanted = _metadata(parse_body(request[CALL].body))
    declared = headers.get("X-Goog-Upload-Header-Content-Length", "")
    upload = FakeUpload(
        project=request[CALL].key or "",
        display_name=display,
        mime_type=headers.get("X-Goog-Upload-Header-Content-Type") or mime or "text/plain",
        wanted=wanted,
        declared=int(declared) if declared.isdigit() else None,
    )
    upload_id = projects.new_id(32)
    projects.uploads[upload_id] = upload
    version = request.match_info["version"]
    query = f"upload_id={upload_id}&upload_protocol=resumable"
    url = f"{_origin(request)}/upload/{version}/files?{query}"
    return web.Response(
        status=200,
        headers={
            **_TEXT_HEADERS,
            "X-Goog-Upload-URL": url,
            "X-Goog-Upload-Control-URL": url,
            "X-Goog-Upload-Status": "active",
            "X-Goog-Upload-Chunk-Granularity": _GRANULARITY,
            "X-GUploader-UploadID": upload_id,
        },
    )


def _active(received: int) -> web.Response:
    """The answer while an upload stays open: how many bytes Google holds so far."""
    status = {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(received)}
    return web.Response(headers={**_TEXT_HEADERS, **status})


def _continue(request: web.Request, projects: Projects, upload_id: str) -> web.Response:
    upload = projects.uploads.get(upload_id)
    if upload is None:
        return _final(error_response(FakeError(404, "Upload session not found or expired.")))
    command = request.headers.get("X-Goog-Upload-Command", "")
    commands = {c.strip().lower() for c in command.split(",")}
    received = upload.received
    if commands == {"query"}:
        return _active(len(received))
    if not commands & {"upload", "finalize"}:
        raise invalid_argument("Unsupported X-Goog-Upload-Command.")
    if "upload" in commands:
        offset = request.headers.get("X-Goog-Upload-Offset", "")
        if offset != str(len(received)):
            message = f"Invalid upload offset {offset[:20]}; expected {len(received)}."
            return _final(error_response(FakeError(400, message)))
        received += request[CALL].body
    if "finalize" not in commands:
        return _active(len(received))
    del projects.uploads[upload_id]
    if upload.declared is not None and upload.declared != len(received):
        error = invalid_argument(
            f"Upload size {len(received)} does not match the declared size {upload.declared}."
        )
        return _final(error_response(error))
    file = _new_file(projects, upload, bytes(received))
    return _final(json_response(pretty({"file": file.to_json(_origin(request))})))


def _multipart(request: web.Request, projects: Projects) -> web.Response:
    head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head + request[CALL].body
    )
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        raise invalid_argument("A multipart upload needs a metadata part and a media part.")
    meta_raw = parts[0].get_payload(decode=True)
    data = parts[1].get_payload(decode=True)
    display, mime, wanted = _metadata(parse_body(meta_raw if isinstance(meta_raw, bytes) else b""))
    upload = FakeUpload(
        project=request[CALL].key or "",
        display_name=display,
        mime_type=mime or parts[1].get_content_type(),
        wanted=wanted,
    )
    file = _new_file(projects, upload, data if isinstance(data, bytes) else b"")
    return _final(json_response(pretty({"file": file.to_json(_origin(request))})))


async def _upload(request: web.Request) -> web.StreamResponse:
    """POST /upload/{v}/files: start or continue a resumable upload, or a multipart one."""
    projects = request.app[FAKE_PROJECTS]
    upload_id = request.query.get("upload_id")
    try:
        if upload_id is not None:
            # The upload URL itself is the credential: Google asks for no key here.
            request[CALL].method_name = "files.upload.continue"
            return _continue(request, projects, upload_id)
        request[CALL].method_name = "files.upload"
        refused = refuse_key(request)
        if refused is not None:
            return refused
        protocol = request.headers.get("X-Goog-Upload-Protocol", "").strip().lower()
        if protocol == "resumable":
            return _start(request, projects)
        if protocol == "multipart":
            return _multipart(request, projects)
        raise invalid_argument("Upload protocol must be resumable or multipart.")
    except FakeError as err:
        return error_response(err)


async def _files(request: web.Request) -> web.StreamResponse:
    """GET /{v}/files, and GET or DELETE /{v}/files/{file}, for the caller's project only."""
    file_id = request.match_info.get("file")
    verb = "list" if file_id is None else "delete" if request.method == "DELETE" else "get"
    request[CALL].method_name = f"files.{verb}"
    refused = refuse_key(request)
    if refused is not None:
        return refused
    projects = request.app[FAKE_PROJECTS]
    project = request[CALL].key or ""
    origin = _origin(request)
    try:
        if file_id is None:
            mine = [f for f in projects.files.values() if f.project == project]
            mine.sort(key=lambda f: f.created, reverse=True)
            page, following = page_of(mine, request.query, 10, 100)
            listing: dict[str, Any] = {}
            if page:
                listing["files"] = [f.to_json(origin) for f in page]
            if following:
                listing["nextPageToken"] = following
            return json_response(pretty(listing))
        file = projects.file_of(project, file_id)
        if file is None:
            raise file_denied(file_id)
        if verb == "delete":
            del projects.files[file_id]
            return json_response(pretty({}))
        return json_response(pretty(file.to_json(origin)))
    except FakeError as err:
        return error_response(err)


def add_file_routes(app: web.Application, versions: str) -> None:
    app.router.add_post(f"/upload/{{version:{versions}}}/files", _upload)
    app.router.add_get(f"/{{version:{versions}}}/files", _files)
    app.router.add_get(f"/{{version:{versions}}}/files/{{file:[^/:]+}}", _files)
    app.router.add_delete(f"/{{version:{versions}}}/files/{{file:[^/:]+}}", _files)
