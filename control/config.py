"""Settings from the environment: the one place that reads os.environ."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    auto_apply: bool
    xml_curl_user: str | None
    xml_curl_password: str | None
    xml_curl_allow: tuple[str, ...]
    https: bool
    trusted_proxies: int
    #: a CA bundle automation webhooks trust besides the system's (a private CA's receivers)
    webhook_ca_file: str | None
    number_provider: str  # where numbers are bought (control/number_providers.py)
    #: where browsers reach an Asterisk node's WebSocket transport; {host} is the node's host
    webphone_url: str
    #: the same for a FreeSWITCH node (its internal profile's wss-binding)
    fs_webphone_url: str


def _proxy_count(name: str) -> int:
    raw = os.environ.get(name, "0").strip() or "0"
    if not raw.isdigit() or int(raw) > 10:
        raise ValueError(f"{name} must be a number of proxies from 0 to 10, not {raw!r}")
    return int(raw)


def _webphone_url(name: str, default: str) -> str:
    """A wss:// URL, `{host}` standing for the PBX node's host: SWITCHBOARD_WEBPHONE_URL for
    Asterisk (deploy/asterisk/install.sh --wss ADDR:PORT serves wss://ADDR:PORT/ws),
    SWITCHBOARD_FS_WEBPHONE_URL for FreeSWITCH (deploy/freeswitch/install.sh --wss ADDR:PORT)."""
    raw = os.environ.get(name, default)
    url = raw.strip()
    if not url.startswith("wss://") or any(c in url for c in " \"'<>\\") or "{" in url.replace("{host}", ""):
        raise ValueError(f"{name} must be a wss:// URL (with {{host}} for the node's host), not {raw!r}")
    return url


def _secret_key(data_dir: Path) -> str:
    """SWITCHBOARD_SECRET_KEY, else a key generated once and kept in the data dir (0600)."""
    if key := os.environ.get("SWITCHBOARD_SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@lru_cache(maxsize=1)
def settings() -> Settings:
    data_dir = Path(os.environ.get("SWITCHBOARD_DATA_DIR", "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'switchboard.db'}"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    allow = os.environ.get("SWITCHBOARD_XML_CURL_ALLOW", "127.0.0.1,::1")
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        secret_key=_secret_key(data_dir),
        auto_apply=os.environ.get("SWITCHBOARD_AUTO_APPLY", "1") != "0",
        xml_curl_user=os.environ.get("SWITCHBOARD_XML_CURL_USER") or None,
        xml_curl_password=os.environ.get("SWITCHBOARD_XML_CURL_PASSWORD") or None,
        xml_curl_allow=tuple(a.strip() for a in allow.split(",") if a.strip()),
        https=os.environ.get("SWITCHBOARD_HTTPS", "0") == "1",
        trusted_proxies=_proxy_count("SWITCHBOARD_TRUSTED_PROXIES"),
        webhook_ca_file=os.environ.get("SWITCHBOARD_WEBHOOK_CA_FILE") or None,
        number_provider=os.environ.get("SWITCHBOARD_NUMBER_PROVIDER", "inventory").strip() or "inventory",
        webphone_url=_webphone_url("SWITCHBOARD_WEBPHONE_URL", "wss://{host}:8089/ws"),
        fs_webphone_url=_webphone_url("SWITCHBOARD_FS_WEBPHONE_URL", "wss://{host}:7443"),
    )


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between apps)."""
    settings.cache_clear()
