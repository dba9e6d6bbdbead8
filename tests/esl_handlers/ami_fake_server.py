"""A small AMI server for the listener unit tests (the real Asterisk tests run elsewhere).

It keeps to the AMI protocol as Asterisk 22 speaks it: the ``Asterisk Call Manager/9.0.0``
banner, CRLF lines, messages ended by a blank line, ``ActionID`` echoed on responses and list
events, EventList actions answered with ``EventList: start`` ... ``<Name>Complete``, FullyBooted
sent right after a Login that asked for events, ``Events`` switching the session's events on
and off, and session filters added with ``Filter``
(``MatchCriteria: action(include),name(X)``) applied to the events it pushes.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
FULLY_BOOTED = "Event: FullyBooted\nPrivilege: system,all\nUptime: 12\nLastReload: 12\nStatus: Fully Booted\n"

_LISTS = {
    "coreshowchannels": ("channels", "Channels will follow", "CoreShowChannelsComplete"),
    "pjsipshowcontacts": (
        "contacts",
        "A listing of Contacts follows, presence/status information is still included",
        "ContactListComplete",
    ),
    "devicestatelist": ("device_states", "Device State Changes will follow", "DeviceStateListComplete"),
    "queuestatus": ("queue_status", "Queue status will follow", "QueueStatusComplete"),
}


def wire(text: str) -> bytes:
    """Message text with LF lines -> AMI bytes (CRLF, blank line at the end)."""
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"


@dataclass
class AmiSession:
    writer: asyncio.StreamWriter
    actions: list[dict[str, str]] = field(default_factory=list)
    include: set[str] = field(default_factory=set)
    logged_in: bool = False
    events_on: bool = False

    def wants(self, event_name: str) -> bool:
        return self.events_on and (not self.include or event_name in self.include)


class FakeAmiServer:
    def __init__(
        self,
        *,
        username: str = "switchboard",
        secret: str = "s3cret",
        channels: list[str] | None = None,
        contacts: list[str] | None = None,
        device_states: list[str] | None = None,
        queue_status: list[str] | None = None,
        accept_filters: bool = True,
    ) -> None:
        self.username = username
        self.secret = secret
        self.listings = {
            "channels": channels or [],
            "contacts": contacts or [],
            "device_states": device_states or [],
            "queue_status": queue_status or [],
        }
        self.accept_filters = accept_filters
        #: AstDB: (family, key) -> value, as DBGetTree lists it and DBDel removes it
        self.astdb: dict[tuple[str, str], str] = {}
        #: send FullyBooted after every Login, even one that asked for no events
        self.fully_booted_always = False
        self.answer_pings = True
        #: action name (lower case) -> seconds to wait before answering it
        self.delays: dict[str, float] = {}
        #: events pushed to the session just before a delayed answer is sent
        self.push_before_answer: dict[str, list[str]] = {}
        self.sessions: list[AmiSession] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        for session in self.sessions:
            session.writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def push(self, text: str, session: AmiSession | None = None) -> bool:
        """Send an event to a session if its filters let it through; True if sent."""
        target = session or self.sessions[-1]
        name = re.search(r"^Event: (.+)$", text, re.M)
        assert name is not None
        if not target.wants(name.group(1)):
            return False
        target.writer.write(wire(text))
        await target.writer.drain()
        return True

    async def drop(self, session: AmiSession | None = None) -> None:
        target = session or self.sessions[-1]
        target.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(writer)
        self.sessions.append(session)
        writer.write(BANNER)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                action = {}
                for line in raw.decode().split("\r\n"):
                    if ": " in line:
                        key, value = line.split(": ", 1)
                        action[key] = value
                session.actions.append(action)
                if not await self._answer(session, action):
                    return
        finally:
            writer.close()

    async def _answer(self, session: AmiSession, action: dict[str, str]) -> bool:
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        tag = f"ActionID: {action_id}\n"
        write = session.writer.write
        if self.delays.get(name):
            for event in self.push_before_answer.get(name, []):
                await self.push(event, session)
            await asyncio.sleep(self.delays[name])
        if name == "login":
            if action.get("Username") != self.username or action.get("Secret") != self.secret:
                write(wire(f"Response: Error\n{tag}Message: Authentication failed\n"))
                await session.writer.drain()
                return False
            session.logged_in = True
            session.events_on = action.get("Events", "on").lower() != "off"
            write(wire(f"Response: Success\n{tag}Message: Authentication accepted\n"))
            if session.events_on or self.fully_booted_always:
                write(wire(FULLY_BOOTED))
        elif not session.logged_in:
            write(wire(f"Response: Error\n{tag}Message: Permission denied\n"))
        elif name == "filter":
            match = re.fullmatch(r"action\(include\),name\((\w+)\)", action.get("MatchCriteria", ""))
            if not self.accept_filters or match is None:
                write(wire(f"Response: Error\n{tag}Message: Permission denied\n"))
            else:
                session.include.add(match.group(1))
                write(wire(f"Response: Success\n{tag}Message: Filter Added Successfully\n"))
        elif name == "events":
            session.events_on = action.get("EventMask", "off").lower() != "off"
            write(wire(f"Response: Success\n{tag}Events: {'On' if session.events_on else 'Off'}\n"))
        elif name == "ping":
            if self.answer_pings:
                write(wire(f"Response: Success\n{tag}Ping: Pong\nTimestamp: 1795219369.000000\n"))
        elif name in _LISTS:
            listing, message, complete = _LISTS[name]
            items = self.listings[listing]
            if name == "pjsipshowcontacts" and not items:
                write(wire(f"Response: Error\n{tag}Message: No Contacts found\n"))
            else:
                write(wire(f"Response: Success\n{tag}EventList: start\nMessage: {message}\n"))
                for item in items:
                    write(wire(item + tag))
                write(wire(f"Event: {complete}\n{tag}EventList: Complete\nListItems: {len(items)}\n"))
        elif name == "dbgettree":
            family = action.get("Family", "")
            found = [(k, v) for (f, k), v in sorted(self.astdb.items()) if f == family]
            write(wire(f"Response: Success\n{tag}EventList: start\nMessage: Result will follow\n"))
            for key, value in found:
                write(wire(f"Event: DBGetTreeResponse\nKey: /{family}/{key}\nVal: {value}\n{tag}"))
            write(wire(f"Event: DBGetTreeComplete\n{tag}EventList: Complete\nListItems: {len(found)}\n"))
        elif name == "dbdel":
            if self.astdb.pop((action.get("Family", ""), action.get("Key", "")), None) is None:
                write(wire(f"Response: Error\n{tag}Message: Database entry not found\n"))
            else:
                write(wire(f"Response: Success\n{tag}Message: Key deleted successfully\n"))
        else:
            write(wire(f"Response: Error\n{tag}Message: Invalid/unknown command\n"))
        await session.writer.drain()
        return True
