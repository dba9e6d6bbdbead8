"""Answers the node's reads (control/pbx_reads.py) over the FreeSWITCH listener's ESL connection
(gevent: Redis I/O is patched). A read arriving while the connection is down is answered "not
connected" at once; one the PBX does not answer in time, "no answer"."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import redis

from control import pbx_reads
from control.redis_conn import redis_url
from esl_handlers import contact_ping, freeswitch_reads
from esl_handlers.command_values import BadCommand

log = logging.getLogger(__name__)


def _api(esl: Any, command: str, left: float) -> str:
    with gevent.Timeout(left, TimeoutError):
        reply = esl.send(command)
    return str(reply.data or "")


def read(esl: Any, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    if esl is None or not esl.connected:
        return {"ok": False, "error": "the listener is not connected to the PBX"}
    if request.get("kind") != "endpoint":
        return {"ok": False, "error": f"unknown read {request.get('kind')!r}"}
    try:
        exists_command = freeswitch_reads.user_exists_command(request)
        registrations_command = freeswitch_reads.registrations_command(request)
        left = max(0.1, min(timeout, float(request["deadline"]) - time.time()))
        exists = _api(esl, exists_command, left)
        xml = _api(esl, registrations_command, max(0.1, float(request["deadline"]) - time.time()))
    except BadCommand as exc:
        return {"ok": False, "error": str(exc)}
    except (TimeoutError, ConnectionError, OSError):
        return {"ok": False, "error": "the PBX did not answer in time"}
    answer = freeswitch_reads.registrations_answer(exists, xml, request["endpoint"], request["domain"])
    # reachability: an OPTIONS ping of each contact (gevent: the sockets and select are patched)
    contact_ping.measure(answer["contacts"], float(request["deadline"]))
    return {"ok": True, **answer}


def answer_reads(node: str, esl: Callable[[], Any], stop: Any, timeout: float) -> None:
    client = redis.Redis.from_url(redis_url())
    key = pbx_reads.requests_key(node)
    try:
        while not stop.is_set():
            try:
                popped = client.brpop([key], timeout=1)
            except (redis.RedisError, OSError) as exc:
                log.warning("%s: reading PBX reads failed: %r", node, exc)
                stop.wait(1)
                continue
            request = pbx_reads.parse_request(popped[1]) if popped else None
            if request is None:
                continue
            try:
                answer = read(esl(), request, timeout)
            except Exception:  # one read going wrong never stops the node answering the next
                log.exception("%s: a PBX read failed", node)
                answer = {"ok": False, "error": "the read failed on the listener"}
            try:
                pbx_reads.answer(client, request["id"], answer)
            except (redis.RedisError, OSError) as exc:
                log.warning("%s: answering a PBX read failed: %r", node, exc)
    finally:
        client.close()
