"""A small synchronous FreeSWITCH event-socket client for deploy jobs: auth, then `api` commands.

Framing comes from esl_handlers.esl_frames (pure, no sockets); this module only moves bytes,
with a deadline on every command. It never subscribes to events.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType

from esl_handlers.esl_frames import EslFrame, EslFrameParser, EslProtocolError
from worker.pbx_errors import PbxError, PbxUnreachable


def _safe(command: str) -> str:
    """One ESL command is one line: a line break would smuggle in a second command."""
    if "\r" in command or "\n" in command:
        raise ValueError("ESL commands cannot contain line breaks")
    return command


class EslClient:
    def __init__(self, host: str, port: int, password: str, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.password = password
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._parser = EslFrameParser()
        self._frames: list[EslFrame] = []

    def __enter__(self) -> EslClient:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"ESL {self.host}:{self.port}"

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise PbxUnreachable(f"{self.where}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + self.timeout
        greeting = self._next_frame(deadline)
        if greeting.content_type != "auth/request":
            self.close()
            raise PbxError(f"{self.where} did not ask for authentication ({greeting.content_type})")
        self._send(f"auth {_safe(self.password)}")
        reply = self._next_frame(deadline)
        if not reply.headers.get("Reply-Text", "").startswith("+OK"):
            self.close()
            raise PbxError(f"{self.where} refused the password: {reply.headers.get('Reply-Text', '')}")

    def close(self) -> None:
        if self._sock is None:
            return
        try:
            self._send("exit")
        except (OSError, PbxError):
            pass
        self._sock.close()
        self._sock = None

    def api(self, command: str, timeout: float | None = None) -> str:
        """`api <command>`: the response body (FreeSWITCH's own errors start with -ERR)."""
        self._send(f"api {_safe(command)}")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            frame = self._next_frame(deadline)
            if frame.content_type == "api/response":
                return frame.body.decode("utf-8", "replace")
            if frame.content_type == "text/disconnect-notice":
                raise PbxUnreachable(f"{self.where} disconnected during {command!r}")

    # --- wire --------------------------------------------------------------------------------

    def _send(self, line: str) -> None:
        if self._sock is None:
            raise PbxUnreachable(f"{self.where} is not connected")
        try:
            self._sock.sendall(line.encode() + b"\n\n")
        except OSError as exc:
            raise PbxUnreachable(f"{self.where}: {exc}") from exc

    def _next_frame(self, deadline: float) -> EslFrame:
        assert self._sock is not None
        while not self._frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PbxUnreachable(f"{self.where} did not answer within {self.timeout:.0f} s")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as exc:
                raise PbxUnreachable(f"{self.where} did not answer in time") from exc
            except OSError as exc:
                raise PbxUnreachable(f"{self.where}: {exc}") from exc
            if not chunk:
                raise PbxUnreachable(f"{self.where} closed the connection")
            try:
                self._frames.extend(self._parser.feed(chunk))
            except EslProtocolError as exc:
                raise PbxError(f"{self.where} sent something that is not ESL: {exc}") from exc
        return self._frames.pop(0)
