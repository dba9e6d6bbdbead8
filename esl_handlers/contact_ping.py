"""Is a registered phone reachable now, and how far is it? An OPTIONS ping on demand.

Neither PBX measures it for us: Asterisk's user AORs are not qualified (qualify_frequency = 0:
after a restart every contact would be unavailable until its first answer), and PJSIPQualify on
such an AOR sends OPTIONS but drops the answer (res_pjsip/pjsip_options.c ignores a result when
the AOR has no qualify frequency); FreeSWITCH's profile does not ping and has no ping API. So the
listener, on the node's host, sends one SIP OPTIONS to the address the PBX reaches the phone at
(retransmitted as RFC 3261 says for UDP) and times the first answer: any response means the phone
is there. Nothing on the PBX changes, so calls reach contacts as before.

Only UDP contacts are pinged (a TCP, TLS or WebSocket phone is reached over the PBX's own
connection, which no one else can use): those are said "not pinged".
"""

from __future__ import annotations

import re
import select
import socket
import time
import uuid
from dataclasses import dataclass

#: seconds a ping waits for the phones' answers at most (within the read's own deadline)
BUDGET = 2.0
#: RFC 3261 T1: the first retransmission interval of a request over UDP
T1 = 0.5
_URI = re.compile(r"sips?:(?:[^@;>\s]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?([^>\s]*)")
_TRANSPORT = re.compile(r";transport=([A-Za-z]+)", re.IGNORECASE)
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]+):(\d{1,5})")
_STATUS = re.compile(rb"SIP/2\.0 (\d{3}) ")
_CALL_ID = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Target:
    uri: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Result:
    reachable: bool | None
    status: str
    rtt_ms: float | None


def target(contact: str, address: str = "") -> Target | str:
    """Where to ping a registration: the contact's URI, sent to `address` ("ip:port": where the PBX
    sends to a phone behind NAT) or else to the URI's own host and port, as the PBX does. A reason
    (str) when it cannot be pinged."""
    found = _URI.search(contact)
    if not found:
        return "no SIP address in the contact"
    # FreeSWITCH's own marks of a phone behind NAT (fs_nat, fs_path) are not the phone's
    uri = re.sub(r";fs_[a-z_]+=(?:<[^>]*>?|[^;>]*)", "", found.group(0))
    transport = _TRANSPORT.search(found.group(3) or "")
    if uri.startswith("sips:") or (transport and transport.group(1).lower() != "udp"):
        kind = "tls" if uri.startswith("sips:") else transport.group(1).lower() if transport else ""
        return f"not pinged ({kind} phone)"
    via = _ADDRESS.fullmatch(address) if address else None
    host, port = (via.group(1), via.group(2)) if via else (found.group(1), found.group(2) or "5060")
    return Target(uri=uri, host=host.strip("[]"), port=int(port))


def options_request(target: Target, local: tuple[str, int], call_id: str, branch: str) -> bytes:
    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    lines = [
        f"OPTIONS {target.uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{local[1]};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:switchboard@{host}>;tag={branch[:10]}",
        f"To: <{target.uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        "Accept: application/sdp",
        "User-Agent: switchboard-diagnosis",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def response_status(data: bytes, call_id: str) -> int | None:
    """The status code of a response to our request (its Call-ID); None for anything else."""
    status = _STATUS.match(data)
    found = _CALL_ID.search(data)
    if not status or not found or found.group(1).decode(errors="replace") != call_id:
        return None
    return int(status.group(1))


def ping(targets: list[Target], budget: float) -> list[Result]:
    """OPTIONS to every target at once; each one's first answer within `budget` seconds."""
    results: list[Result | None] = [None] * len(targets)
    sockets: dict[int, tuple[int, socket.socket, str, bytes]] = {}
    try:
        for index, where in enumerate(targets):
            try:
                info = socket.getaddrinfo(where.host, where.port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(info[0], socket.SOCK_DGRAM)
                sock.connect(info[4])
            except OSError as exc:
                results[index] = Result(False, f"cannot be reached: {exc.strerror or exc}", None)
                continue
            call_id = uuid.uuid4().hex
            request = options_request(where, sock.getsockname()[:2], call_id, uuid.uuid4().hex)
            sockets[sock.fileno()] = (index, sock, call_id, request)
        started = time.monotonic()
        interval, resend_at = T1, started
        while sockets:
            now = time.monotonic()
            if now - started >= budget:
                break
            if now >= resend_at:
                for fd, (index, sock, _, request) in list(sockets.items()):
                    try:
                        sock.send(request)
                    except OSError as exc:
                        results[index] = Result(False, f"no answer: {exc.strerror or exc}", None)
                        sockets.pop(fd)[1].close()
                resend_at, interval = now + interval, min(interval * 2, 4.0)
            wait = max(0.0, min(resend_at, started + budget) - time.monotonic())
            readable, _, _ = select.select(list(sockets), [], [], wait) if sockets else ([], [], [])
            for fd in readable:
                index, sock, call_id, _ = sockets[fd]
                try:
                    data = sock.recv(65535)
                except OSError as exc:  # ICMP port unreachable: nothing listens there any more
                    results[index] = Result(False, f"no answer: {exc.strerror or exc}", None)
                    sockets.pop(fd)[1].close()
                    continue
                code = response_status(data, call_id)
                if code is not None:
                    rtt = (time.monotonic() - started) * 1000
                    results[index] = Result(True, f"answered {code}", round(max(rtt, 0.01), 2))
                    sockets.pop(fd)[1].close()
    finally:
        for _, sock, _, _ in sockets.values():
            sock.close()
    return [result or Result(False, f"no answer within {budget:.1f} s", None) for result in results]


def measure(contacts: list[dict[str, object]], deadline: float) -> None:
    """Ping each contact (a reads answer's dict, its "ping_to" key: the "ip:port" the PBX saw it
    at, or "") and set its reachable, status and rtt_ms; "ping_to" is removed. Done before
    `deadline` (epoch seconds, the asker's) with a margin to send the answer back."""
    budget = max(0.1, min(BUDGET, deadline - time.time() - 0.3))
    targets: list[Target] = []
    pinged: list[dict[str, object]] = []
    for contact in contacts:
        where = target(str(contact.get("contact") or ""), str(contact.pop("ping_to", "") or ""))
        if isinstance(where, str):
            contact.update(reachable=None, status=where, rtt_ms=None)
        else:
            targets.append(where)
            pinged.append(contact)
    for contact, result in zip(pinged, ping(targets, budget) if targets else [], strict=True):
        contact.update(reachable=result.reachable, status=result.status, rtt_ms=result.rtt_ms)
