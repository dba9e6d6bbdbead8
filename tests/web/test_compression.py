"""Compressed answers (web/compression.py): pages, JSON and static files gzip-compressed when the
client accepts it, versioned static URLs cached for a year, and the portal's weight measured."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from web import compression

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
STATIC = Path(compression.__file__).parent / "static"


def _static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_a_rendered_page_is_never_compressed(agent_client) -> None:  # type: ignore[no-untyped-def]
    """A page carries the session's CSRF token beside what the request chose (here a search):
    compressed over HTTPS, its size would tell the token byte by byte (BREACH)."""
    page = agent_client.get("/portal/phonebook?q=csrf_token", headers=GZIP)
    assert page.status_code == 200 and "Content-Encoding" not in page.headers
    assert b"</html>" in page.data and b"csrf_token" in page.data


def test_json_answers_are_compressed(client, demo) -> None:  # type: ignore[no-untyped-def]
    from tests.api.conftest import make_token

    auth = {"Authorization": f"Bearer {make_token(demo['admin_email'])}"}
    plain = client.get("/api/v1/openapi.json", headers=auth)
    assert plain.status_code == 200 and plain.mimetype == "application/json"
    packed = client.get("/api/v1/openapi.json", headers={**auth, **GZIP})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data


def test_small_answers_stay_as_they_are(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/login", headers=GZIP)
    assert response.status_code == 200
    if len(response.get_data()) < compression.MIN_SIZE:
        assert "Content-Encoding" not in response.headers


def test_versioned_static_files_are_compressed_and_cached_for_a_year(agent_client) -> None:  # type: ignore[no-untyped-def]
    html = agent_client.get("/portal/phonebook").get_data(as_text=True)
    urls = _static_urls(html)
    assert any(u.startswith("/static/app.css?v=") for u in urls), urls
    for url in urls:
        path, _, version = url.partition("?v=")
        assert re.fullmatch(r"[0-9a-f]{12}", version), url
        file = STATIC / path.removeprefix("/static/")
        response = agent_client.get(url, headers=GZIP)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == compression.IMMUTABLE, url
        if response.mimetype in compression.COMPRESSIBLE:
            assert response.headers["Content-Encoding"] == "gzip", url
            assert gzip.decompress(response.data) == file.read_bytes(), url
            etag = response.headers["ETag"]
            assert etag.startswith('W/"'), etag
            again = agent_client.get(url, headers={**GZIP, "If-None-Match": etag})
            assert again.status_code == 304, url
        response.close()


@pytest.mark.parametrize("query", ["", "?v=000000000000"])
def test_an_unversioned_or_stale_static_url_is_revalidated(client, query: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/static/vendor/sip.js/sip.bundle.js{query}", headers=GZIP)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers.get("Cache-Control") != compression.IMMUTABLE
    response.close()


def test_a_range_request_is_answered_uncompressed(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/static/app.js", headers={**GZIP, "Range": "bytes=0-9"})
    assert response.status_code == 206 and "Content-Encoding" not in response.headers
    assert response.data == (STATIC / "app.js").read_bytes()[:10]
    response.close()


def test_no_static_path_outside_the_folder_is_read() -> None:
    assert compression.file_version(str(STATIC), "../app.py") is None
    assert compression.file_version(str(STATIC), "vendor") is None  # a folder
    assert compression.file_version(str(STATIC), "app.css")
