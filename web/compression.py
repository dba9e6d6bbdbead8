"""Compressed answers and long-lived static files.

Text answers (JSON, and static JavaScript, CSS, SVG and HTML) go out gzip-compressed when the
client accepts it. Pages rendered for a request are not: each carries the session's CSRF token
beside text the request chose (a search, a form's echo), and compressing both over HTTPS lets an
attacker who can make the browser ask and can watch the sizes guess the token (BREACH). JSON
answers carry no CSRF token (the API authenticates by header).
static files too, their compressed bytes kept in memory per file version (the ETag), so a file is
compressed once per process. Streams (the live Server-Sent Events) and partial answers go out as
they are. A static URL carries its file's version (`?v=<hash>`, added by `url_for`): such an answer
may be cached for a year, since a changed file gets another URL.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

#: content types worth compressing (images, fonts and audio are compressed already)
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "image/svg+xml",
    }
)
#: smaller answers gain nothing from gzip's header and the CPU
MIN_SIZE = 512
LEVEL = 6
#: a versioned static file may be cached this long (one year; the URL changes with the file)
IMMUTABLE = "public, max-age=31536000, immutable"


def init_app(app: Flask) -> None:
    app.url_defaults(_static_version)
    app.after_request(_cache_versioned)
    app.after_request(compress)  # registered last, runs first: hooks run in reverse order


def _accepts_gzip() -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def compress(response: Response) -> Response:
    if response.mimetype not in COMPRESSIBLE or response.is_streamed and not response.direct_passthrough:
        return response
    if response.status_code != 200 or "Content-Encoding" in response.headers:
        return response
    response.vary.add("Accept-Encoding")
    if not _accepts_gzip():
        return response
    etag, _ = response.get_etag()
    if response.direct_passthrough:  # a static file (send_file): compressed once per version
        if etag is None:
            return response
        response.direct_passthrough = False
        body = _compressed_file(request.path, etag, response.get_data())
    elif response.mimetype == "text/html":  # a rendered page: see BREACH above
        return response
    else:
        data = response.get_data()
        if len(data) < MIN_SIZE:
            return response
        body = gzip.compress(data, LEVEL, mtime=0)
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    if etag is not None:
        # Another representation of the same file: a weak ETag still answers If-None-Match
        response.set_etag(etag, weak=True)
    return response


#: (path, ETag) -> gzip bytes: a static file compressed once per version and process
_FILES: dict[tuple[str, str], bytes] = {}
_FILES_MAX = 512


def _compressed_file(path: str, etag: str, data: bytes) -> bytes:
    key = (path, etag)
    body = _FILES.get(key)
    if body is None:
        if len(_FILES) >= _FILES_MAX:
            _FILES.clear()
        body = _FILES[key] = gzip.compress(data, LEVEL, mtime=0)
    return body


def _static_version(endpoint: str, values: dict[str, Any]) -> None:
    """`url_for('static', filename=f)` -> `/static/f?v=<hash of f's bytes>`."""
    if endpoint != "static" or "v" in values or "filename" not in values:
        return
    folder = current_app.static_folder
    if folder is not None:
        version = file_version(folder, values["filename"])
        if version:
            values["v"] = version


def file_version(folder: str, filename: str) -> str | None:
    """A short hash of a static file's bytes (recomputed when its mtime or size changes)."""
    joined = safe_join(folder, filename)
    if joined is None:
        return None
    path = Path(joined)
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return _hash(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _hash(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.blake2b(Path(path).read_bytes(), digest_size=6).hexdigest()


def _cache_versioned(response: Response) -> Response:
    """The year-long cache only for the version the file has now (an old `v` revalidates)."""
    version = request.args.get("v")
    if request.endpoint != "static" or not version or response.status_code not in (200, 304):
        return response
    folder = current_app.static_folder
    filename = (request.view_args or {}).get("filename")
    if folder is not None and filename and file_version(folder, filename) == version:
        response.headers["Cache-Control"] = IMMUTABLE
    return response
