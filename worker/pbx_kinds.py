"""What differs between Asterisk and FreeSWITCH for a deploy, behind one interface.

Each kind parses (and so validates) a rendered version, flattens it into the few files a
version holds on the PBX (includes written in place), tells which reload parts a set of
changed files needs, reloads those parts, and verifies the changed objects are live, over a
control connection (AMI or ESL) opened with the node's credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from control.models import PbxNode
from worker import asterisk_apply, freeswitch_apply
from worker.ami_client import AmiClient
from worker.esl_client import EslClient

CONTROL_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class PbxKind:
    name: str
    parse: Callable[..., Any]  # (files, digests=None) -> model; raises ConfError
    flatten: Callable[[Mapping[str, bytes]], dict[str, bytes]]
    changed_parts: Callable[[Any, Iterable[str]], set[str]]
    reload: Callable[[Any, Iterable[str], Any, Any], None]
    verify: Callable[[Any, Any, Any, Iterable[str]], int]
    connect: Callable[[PbxNode, str], AbstractContextManager[Any]]


def _ami(node: PbxNode, secret: str) -> AmiClient:
    return AmiClient(node.host, node.port, node.username, secret, timeout=CONTROL_TIMEOUT)


def _esl(node: PbxNode, secret: str) -> EslClient:
    return EslClient(node.host, node.port, secret, timeout=CONTROL_TIMEOUT)


KINDS = {
    "asterisk": PbxKind(
        "asterisk",
        asterisk_apply.parse,
        asterisk_apply.flatten,
        asterisk_apply.changed_parts,
        asterisk_apply.reload,
        asterisk_apply.verify,
        _ami,
    ),
    "freeswitch": PbxKind(
        "freeswitch",
        freeswitch_apply.parse,
        freeswitch_apply.flatten,
        freeswitch_apply.changed_parts,
        freeswitch_apply.reload,
        freeswitch_apply.verify,
        _esl,
    ),
}


def kind_of(node: PbxNode) -> PbxKind:
    return KINDS[node.kind]
