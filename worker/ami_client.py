"""A small synchronous Asterisk Manager Interface client for deploy jobs.

Deploy jobs run in plain forked rq workers, so this is a blocking socket with a deadline on
every action rather than panoramisk's asyncio manager. It logs in with `Events: off` and only
ever reads answers to its own actions (matched by ActionID), collecting EventList items.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from types import TracebackType

from worker.pbx_errors import PbxError, PbxUnreachable

Message = list[tuple[str, str]]


@dataclass(slots=True)
class AmiResponse:
    """An action's Response message plus, for list actions, every event of its EventList."""

    headers: Message
    events: list[dict[str, str]] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def ok(self) -> bool:
        return self.get("Response") in ("Success", "Follows")

    @property
    def message(self) -> str:
        return self.get("Message")


def _safe(value: str) -> str:
    """A header value cannot carry a line break: that would inject another header."""
    if "\r" in value or "\n" in value:
        raise ValueError("AMI header values cannot contain line breaks")
    return value


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._next_id = 0

    def __enter__(self) -> AmiClient:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise PbxUnreachable(f"AMI {self.host}:{self.port}: {exc.strerror or exc}") from exc
        deadline = time.monotonic() + self.timeout
        banner = self._read_line(deadline)
        if not banner.startswith("Asterisk Call Manager/"):
            self.close()
            raise PbxError(f"AMI {self.host}:{self.port} is not an Asterisk manager (said {banner[:60]!r})")
        login = self.action("Login", Username=self.username, Secret=self.secret, Events="off")
        if not login.ok:
            self.close()
            raise PbxError(f"AMI login as {self.username!r} refused: {login.message or 'no reason given'}")

    def close(self) -> None:
        if self._sock is None:
            return
        try:
            self._send("Logoff", {})
        except OSError:
            pass
        self._sock.close()
        self._sock = None

    def action(self, name: str, timeout: float | None = None, **fields: str) -> AmiResponse:
        """Send one action and wait for its answer (and its whole EventList, if it has one)."""
        action_id = self._send(name, fields)
        deadline = time.monotonic() + (timeout or self.timeout)
        response: AmiResponse | None = None
        while True:
            message = self._read_message(deadline)
            if not message:
                continue
            first = dict(message)
            if first.get("ActionID") != action_id:
                continue
            if response is None and "Response" in first:
                response = AmiResponse(message)
                if first.get("EventList") != "start":
                    return response
                continue
            if response is not None and "Event" in first:
                if first.get("EventList") == "Complete":
                    return response
                response.events.append(first)

    def command(self, command: str, timeout: float | None = None) -> str:
        """A CLI command through the Command action; its output lines joined."""
        response = self.action("Command", timeout=timeout, Command=command)
        if not response.ok:
            raise PbxError(f"{command!r} refused: {response.message}")
        return "\n".join(response.getall("Output"))

    # --- wire --------------------------------------------------------------------------------

    def _send(self, name: str, fields: dict[str, str]) -> str:
        if self._sock is None:
            raise PbxUnreachable("AMI is not connected")
        self._next_id += 1
        action_id = f"sb-{self._next_id}"
        lines = [f"Action: {_safe(name)}", f"ActionID: {action_id}"]
        lines += [f"{key}: {_safe(str(value))}" for key, value in fields.items()]
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        except OSError as exc:
            raise PbxUnreachable(f"AMI {self.host}:{self.port}: {exc}") from exc
        return action_id

    def _fill(self, deadline: float) -> None:
        assert self._sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PbxUnreachable(f"AMI {self.host}:{self.port} did not answer within {self.timeout:.0f} s")
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError as exc:
            raise PbxUnreachable(f"AMI {self.host}:{self.port} did not answer in time") from exc
        except OSError as exc:
            raise PbxUnreachable(f"AMI {self.host}:{self.port}: {exc}") from exc
        if not chunk:
            raise PbxUnreachable(f"AMI {self.host}:{self.port} closed the connection")
        self._buffer += chunk

    def _read_line(self, deadline: float) -> str:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._fill(deadline)
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line.decode("utf-8", "replace")

    def _read_message(self, deadline: float) -> Message:
        """Header lines up to an empty line; an empty list for a stray blank line."""
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if self._buffer.startswith(b"\r\n"):
                del self._buffer[:2]
                return []
            self._fill(deadline)
        block = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        message: Message = []
        for line in block.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                message.append((key.strip(), value.strip()))
        return message
