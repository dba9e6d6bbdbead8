"""The production web server: gunicorn with threaded workers (open SSE streams hold a thread).

Each instance keeps its control socket (for `gunicornc`) in its own data dir, never gunicorn's
per-user default that a second Switchboard on the host would take over and remove. Access and
error logs go through web.log_redaction: no credential is written to them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from web.log_redaction import REDACTED, RedactingFilter, redact, sensitive_header

CONTROL_SOCKET = "gunicorn.ctl"
UNIX_PATH_MAX = 108  # sun_path, with its terminating NUL


class RedactingLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, with credentials taken out of every access-log atom and error message."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if not isinstance(value, str):
                continue
            if key.startswith("{") and sensitive_header(key[1:].rsplit("}", 1)[0]):
                atoms[key] = REDACTED
            else:
                atoms[key] = redact(value)
        return atoms


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from web.app import create_app

        return create_app()


def control_socket(data_dir: Path) -> Path | None:
    """This instance's control socket, or None when the data dir's path is too long for one."""
    path = data_dir / CONTROL_SOCKET
    return path if len(os.fsencode(path)) < UNIX_PATH_MAX else None


def _control_socket_options(path: Path | None) -> dict[str, Any]:
    return {"control_socket": str(path)} if path else {"control_socket_disable": True}


def run_server(host: str, port: int, data_dir: Path, workers: int = 2, threads: int = 16) -> None:
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": "-",
            "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
            "logger_class": RedactingLogger,
            **_control_socket_options(control_socket(data_dir)),
        }
    ).run()
