"""OpenAI media parts (images, audio, files) as Gemini ``inlineData`` parts."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import attrs

from gpool.errors import BadRequest

from ._util import JSON, type_name

__all__ = ["FetchedMedia", "audio_part", "file_part", "image_part", "remote_image_urls"]

# OpenAI's input_audio formats (wav, mp3) plus the others Gemini reads.
_AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
}
# OpenAI documents its ``file`` part for PDFs, so that is the guess when nothing else says.
_DEFAULT_FILE_MIME = "application/pdf"


@attrs.frozen(kw_only=True)
class FetchedMedia:
    """A remote image the route fetched for us: its type and its bytes in base64."""

    mime_type: str
    data_b64: str


def _image_url(part: Mapping[str, Any]) -> Any:
    image = part.get("image_url")
    return image.get("url") if isinstance(image, Mapping) else image


def _is_remote(url: Any) -> bool:
    return isinstance(url, str) and url[:8].lower().startswith(("http://", "https://"))


def remote_image_urls(body: Any) -> list[str]:
    """Every http(s) image URL in the messages, in order, once each; never raises."""
    urls: dict[str, None] = {}
    messages = body.get("messages") if isinstance(body, Mapping) else None
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                url = _image_url(part)
                if _is_remote(url):
                    urls[url] = None
    return list(urls)


def _checked_b64(data: Any, where: str) -> str:
    if not isinstance(data, str) or not data:
        raise BadRequest(f"{where}: expected base64 data, got {type_name(data)}")
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: the data is not valid base64") from None
    return data


def _data_url(url: str, where: str) -> tuple[str, str]:
    """``data:<mime>[;…][;base64],<data>`` -> (mime, base64 data)."""
    head, sep, data = url[5:].partition(",")
    if not sep:
        raise BadRequest(f"{where}: a data URL needs a comma before its data")
    mime, *params = head.split(";")
    mime = mime.strip().lower() or "text/plain"
    if "/" not in mime:
        raise BadRequest(f"{where}: the data URL's media type {mime!r} is not a MIME type")
    if any(p.strip().lower() == "base64" for p in params):
        return mime, _checked_b64(data.strip(), where)
    raw = unquote_to_bytes(data)
    if not raw:
        raise BadRequest(f"{where}: the data URL holds no data")
    return mime, base64.b64encode(raw).decode("ascii")


def _inline(mime: str, data: str) -> JSON:
    return {"inlineData": {"mimeType": mime, "data": data}}


def image_part(part: Mapping[str, Any], where: str, media: Mapping[str, FetchedMedia]) -> JSON:
    """``image_url`` -> inlineData; ``detail`` has no Gemini equivalent and is dropped."""
    url = _image_url(part)
    where = f"{where}.image_url" + (".url" if isinstance(part.get("image_url"), Mapping) else "")
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}: expected a URL string, got {type_name(url)}")
    if url[:5].lower() == "data:":
        return _inline(*_data_url(url, where))
    if _is_remote(url):
        fetched = media.get(url)
        if fetched is None:
            raise BadRequest(f"{where}: could not fetch the image at {url}")
        return _inline(fetched.mime_type, fetched.data_b64)
    raise BadRequest(f"{where}: expected a data: or http(s) URL")


def audio_part(part: Mapping[str, Any], where: str) -> JSON:
    audio = part.get("input_audio")
    where = f"{where}.input_audio"
    if not isinstance(audio, Mapping):
        raise BadRequest(f"{where}: expected an object, got {type_name(audio)}")
    fmt = audio.get("format")
    mime = _AUDIO_MIME.get(fmt.lower()) if isinstance(fmt, str) else None
    if mime is None:
        raise BadRequest(f"{where}.format: expected one of {', '.join(_AUDIO_MIME)}, got {fmt!r}")
    return _inline(mime, _checked_b64(audio.get("data"), f"{where}.data"))


def file_part(part: Mapping[str, Any], where: str) -> JSON:
    """``file`` -> inlineData; the type comes from the data URL, else the filename, else PDF."""
    file = part.get("file")
    where = f"{where}.file"
    if not isinstance(file, Mapping):
        raise BadRequest(f"{where}: expected an object, got {type_name(file)}")
    data = file.get("file_data")
    if data is None:
        if file.get("file_id") is not None:
            raise BadRequest(f"{where}.file_id: file ids are not supported; send file_data")
        raise BadRequest(f"{where}.file_data: required")
    if isinstance(data, str) and data[:5].lower() == "data:":
        return _inline(*_data_url(data, f"{where}.file_data"))
    data = _checked_b64(data, f"{where}.file_data")
    filename = file.get("filename")
    mime = mimetypes.guess_type(filename)[0] if isinstance(filename, str) else None
    return _inline(mime or _DEFAULT_FILE_MIME, data)
