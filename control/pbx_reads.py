"""Reading a live PBX through its node's control connection: ask, and wait at most a timeout.

The connection to a PBX belongs to its node's listener process. A read (what a user's phone
registered, whether their endpoint exists) is pushed on the node's Redis list of reads; the
listener answers it over the AMI/ESL connection it already has and pushes the answer on a
per-read key. A node whose listener is down, or whose PBX does not answer in time, gives no
answer: the caller says so, it never fails. Reads change nothing, so nothing is recorded.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import redis

from control.redis_conn import redis_client

#: Seconds a page waits for the nodes' answers (all nodes are asked at once).
TIMEOUT = 4.0
#: Seconds an unread request or an uncollected answer is kept.
KEEP = 60


def requests_key(node: str) -> str:
    return f"switchboard:reads:{node}"


def answer_key(read_id: str) -> str:
    return f"switchboard:read-answer:{read_id}"


def ask_all(
    questions: dict[str, dict[str, Any]], timeout: float = TIMEOUT
) -> dict[str, dict[str, Any] | None]:
    """Ask each node (name -> question) at once; each node's answer, or None when it gave none
    within `timeout` seconds."""
    if not questions:
        return {}
    client = redis_client()
    deadline = time.time() + timeout
    ids: dict[str, str] = {}
    pipe = client.pipeline(transaction=False)
    for node, question in questions.items():
        ids[node] = read_id = uuid.uuid4().hex
        pipe.lpush(requests_key(node), orjson.dumps({"id": read_id, "deadline": deadline, **question}))
        pipe.expire(requests_key(node), KEEP)
    pipe.execute()
    answers: dict[str, dict[str, Any] | None] = {}
    for node, read_id in ids.items():
        left = deadline - time.time()
        popped: Any = client.brpop([answer_key(read_id)], timeout=max(left, 0.01)) if left > 0 else None
        raw: Any = popped[1] if popped else client.rpop(answer_key(read_id))
        answers[node] = orjson.loads(raw) if raw else None
    return answers


def answer(client: redis.Redis, read_id: str, payload: dict[str, Any]) -> None:
    """The listener's side: the answer to one read, through the responder's own connection (the
    FreeSWITCH listener's handler thread uses the process's: a gevent socket used from two threads
    fails with "Cannot switch to a different thread")."""
    pipe = client.pipeline(transaction=False)
    pipe.lpush(answer_key(read_id), orjson.dumps(payload))
    pipe.expire(answer_key(read_id), KEEP)
    pipe.execute()


def parse_request(raw: bytes) -> dict[str, Any] | None:
    """A request as pushed by `ask_all`; None when it is malformed or its asker gave up."""
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("id"), str):
        return None
    if float(request.get("deadline") or 0) < time.time():
        return None
    return request
