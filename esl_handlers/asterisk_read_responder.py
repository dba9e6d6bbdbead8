"""Answers the node's reads (control/pbx_reads.py) over the Asterisk listener's AMI connection
(asyncio). A read arriving while the connection is down is answered "not connected" at once; one
the PBX does not answer in time, "no answer": the asker never waits past its own deadline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from control import pbx_reads
from control.redis_conn import redis_url
from esl_handlers import asterisk_reads, contact_ping
from esl_handlers.command_values import BadCommand

log = logging.getLogger(__name__)


async def read(manager: Any, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    if manager is None or manager.lost:
        return {"ok": False, "error": "the listener is not connected to the PBX"}
    if request.get("kind") != "endpoint":
        return {"ok": False, "error": f"unknown read {request.get('kind')!r}"}
    try:
        action = asterisk_reads.endpoint_action(request)
        left = max(0.1, min(timeout, float(request["deadline"]) - time.time()))
        result = await asyncio.wait_for(manager.send_action(action, as_list=None), left)
    except BadCommand as exc:
        return {"ok": False, "error": str(exc)}
    except (TimeoutError, ConnectionError):
        return {"ok": False, "error": "the PBX did not answer in time"}
    messages = result if isinstance(result, list) else [result]
    answer = asterisk_reads.endpoint_answer(messages, time.time())
    # reachability: an OPTIONS ping of each contact, off the event loop
    await asyncio.to_thread(contact_ping.measure, answer["contacts"], float(request["deadline"]))
    return {"ok": True, **answer}


async def answer_reads(node: str, manager: Callable[[], Any], stop: asyncio.Event, timeout: float) -> None:
    client = aioredis.Redis.from_url(redis_url())
    key = pbx_reads.requests_key(node)
    try:
        while not stop.is_set():
            try:
                popped = await client.brpop([key], timeout=1)
            except (redis.RedisError, OSError) as exc:
                log.warning("%s: reading PBX reads failed: %r", node, exc)
                await asyncio.sleep(1)
                continue
            request = pbx_reads.parse_request(popped[1]) if popped else None
            if request is None:
                continue
            try:
                answer = await read(manager(), request, timeout)
            except Exception:  # one read going wrong never stops the node answering the next
                log.exception("%s: a PBX read failed", node)
                answer = {"ok": False, "error": "the read failed on the listener"}
            try:
                await client.lpush(pbx_reads.answer_key(request["id"]), orjson.dumps(answer))
                await client.expire(pbx_reads.answer_key(request["id"]), pbx_reads.KEEP)
            except (redis.RedisError, OSError) as exc:
                log.warning("%s: answering a PBX read failed: %r", node, exc)
    finally:
        await client.aclose()
