"""POST /freeswitch/xml-curl: FreeSWITCH's mod_xml_curl asks for directory and dialplan XML.

The endpoint authenticates each request itself (no login session, no CSRF token: web/app.py
exempts the blueprint): the client address must be in SWITCHBOARD_XML_CURL_ALLOW (403), then
HTTP basic auth must match SWITCHBOARD_XML_CURL_USER / _PASSWORD (401). Without a configured
user and password the endpoint is off (403): it is never open by default.

The answer comes from control.services.xml_curl. Any status but 200 makes FreeSWITCH fall back
to its static XML, which is what a model that does not render (503) should get.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
from functools import lru_cache
from urllib.parse import unquote_plus

from flask import Blueprint, Response, request

from control.config import settings
from control.render import RenderError
from control.services import xml_curl
from web.auth import self_authenticating
from web.db import db

log = logging.getLogger(__name__)

bp = Blueprint(self_authenticating("xml_curl"), __name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...] | None:
    """The allow-list as networks (an address is a /32 or /128); None if an entry is invalid,
    which refuses everyone rather than guessing."""
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError:
        log.error("SWITCHBOARD_XML_CURL_ALLOW holds an invalid entry: every xml_curl request is refused")
        return None


@lru_cache(maxsize=1024)
def _address_allowed(remote: str | None, entries: tuple[str, ...]) -> bool:
    networks = _networks(entries)
    if not remote or not networks:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


@lru_cache(maxsize=4)
def _expected_header(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def _credentials_match(user: str, password: str) -> bool:
    """Compared in constant time: first the header as libcurl writes it, else parsed (another
    spelling of the scheme, blanks), both user and password always compared."""
    header = request.headers.get("Authorization", "").encode("latin-1", "replace")
    if hmac.compare_digest(header, _expected_header(user, password)):
        return True
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    given_user = (auth.username or "").encode()
    given_password = (auth.password or "").encode()
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return user_ok & password_ok


# FreeSWITCH writes names raw and URL-encodes values (switch_event_build_param_string).
_NEEDLES = tuple((name, f"&{name}=") for name in sorted(xml_curl.FIELDS))


def fetch_fields(body: bytes) -> dict[str, str]:
    """The form fields the service reads, decoded; the other ~200 of a dialplan fetch (channel
    variables) are skipped undecoded. The first occurrence of a name wins."""
    text = "&" + body.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for name, needle in _NEEDLES:
        start = text.find(needle)
        if start < 0:
            continue
        start += len(needle)
        end = text.find("&", start)
        value = text[start:] if end < 0 else text[start:end]
        fields[name] = unquote_plus(value) if ("%" in value or "+" in value) else value
    return fields


def _refused(status: int, message: str) -> Response:
    response = Response(message + "\n", status=status, mimetype="text/plain")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="switchboard-xml-curl", charset="UTF-8"'
    return response


@bp.post("/freeswitch/xml-curl")
def fetch() -> Response:
    config = settings()
    if not config.xml_curl_user or not config.xml_curl_password:
        return _refused(
            403, "xml_curl is off: set SWITCHBOARD_XML_CURL_USER and SWITCHBOARD_XML_CURL_PASSWORD"
        )
    if not _address_allowed(request.remote_addr, config.xml_curl_allow):
        log.warning("xml_curl request refused: %s is not in SWITCHBOARD_XML_CURL_ALLOW", request.remote_addr)
        return _refused(403, "this address may not fetch configuration")
    if not _credentials_match(config.xml_curl_user, config.xml_curl_password):
        return _refused(401, "authentication required")
    try:
        document = xml_curl.answer(fetch_fields(request.get_data(cache=False)), db)
    except RenderError as exc:
        log.warning("xml_curl: the model does not render, FreeSWITCH keeps its static XML: %s", exc)
        return _refused(503, "the model does not render now")
    return Response(document, status=200, mimetype="text/xml")
