"""An ESL connection of the bench's own process to the sandbox FreeSWITCH: the in-run baseline a
Switchboard figure is compared with (the same commands, sent straight)."""

from __future__ import annotations

import socket
from typing import Any


class DirectEsl:
    def __init__(self, sandbox: Any, timeout: float = 30.0) -> None:
        from esl_handlers.esl_frames import EslFrameParser

        self.sock = socket.create_connection((sandbox.esl_host, sandbox.esl_port), timeout=timeout)
        self.parser = EslFrameParser()
        self.frames: list[Any] = []
        self._frame()  # auth/request
        self.send(f"auth {sandbox.esl_password}\n\n".encode(), "auth")

    def _frame(self) -> Any:
        while not self.frames:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("ESL closed the connection")
            self.frames.extend(self.parser.feed(chunk))
        return self.frames.pop(0)

    def take(self, frame: Any) -> None:
        """An event that arrived while a reply was awaited (ignored unless a subclass counts it)."""

    def send(self, wire: bytes, what: str) -> None:
        """Send a command and wait for its reply, which must be +OK."""
        self.sock.sendall(wire)
        while True:
            frame = self._frame()
            if frame.content_type == "command/reply":
                said = str(frame.headers.get("Reply-Text", ""))
                break
            self.take(frame)
        if not said.startswith("+OK"):
            raise RuntimeError(f"{what} refused: {said}")

    def close(self) -> None:
        self.sock.close()
