"""Answers to FreeSWITCH's mod_xml_curl fetches ("dynamic mode"), straight from the model.

What is answered (everything else gets the documented "not found" document, and FreeSWITCH
falls back to its static XML — the configuration Switchboard deploys):

- directory, `tag_name=domain key_name=name key_value=<domain>`, `key=id user=<extension>`, with
  no `action` (user_data()), `action=sip_auth` (REGISTER / INVITE digest) or `action=user_call`
  (the user/ endpoint): the tenant's domain holding that one user, as the static directory has
  it (a webphone's user `<extension>-webphone` is in its person's file, with the desk phone's). An unknown domain or user, a suspended user or one without SIP credentials: not found.
  Requests with a `purpose` (network-list, gateways) are not user lookups: not found.
- dialplan, context `Hunt-Context` (else `Caller-Context`) "default" or "public": the context
  as the static render has it, when one of its extensions takes `Hunt-Destination-Number`.
  When none does, not found: FreeSWITCH then hunts its static context, as in static mode where
  Switchboard's extensions sit at the top of the stock ones. Whose context: in "default", the
  tenant of the channel's `variable_sb_did` when it has one (a call a line transferred from
  "public" to its destination in "default": the line's extension sets sb_did, and a carrier's
  call has no domain of the tenant's), else the tenant whose domain is `variable_domain_name`
  (set when the caller authenticated against the directory), else `variable_sip_req_host` (the
  request URI's host); in "public", the tenant holding the dialled number (an E.164 number
  is unique), with or without its "+", whatever the request host — a carrier's INVITE names the
  PBX's address.

Cost: each process keeps, per tenant, an incremental FreeSWITCH render (control.render) and the
documents built from it. Every fetch reads the model generation from Redis (one MGET) — the
counter control.model_changes bumps after every committed change, in whichever process made it
(web workers, rq jobs) — and answers from memory while it has not moved. When it moved, the
change log says which rows changed: those are re-read and only the documents of tenants whose
files changed are rebuilt. Time alone can change a render too (a number to be cancelled stops
routing at its date): a tenant is re-timed, without a query, once that moment has passed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from control import model_changes
from control.config import settings
from control.db import utcnow
from control.models import PhoneNumber, Tenant
from control.redis_conn import redis_client
from control.render import Changes, RenderedConfig, RenderError, TenantRender, names, open_render
from control.render import xml_curl as documents

NOT_FOUND = documents.NOT_FOUND
USER_ACTIONS = frozenset({"", "sip_auth", "user_call"})
CONTEXTS = frozenset({names.FS_DEFAULT_CONTEXT, names.FS_PUBLIC_CONTEXT})
# The form fields a fetch is answered from; the HTTP edge needs to decode no others.
FIELDS = frozenset(
    {
        "section",
        "tag_name",
        "key_name",
        "key_value",
        "purpose",
        "action",
        "key",
        "user",
        "domain",
        "Hunt-Context",
        "Caller-Context",
        "Hunt-Destination-Number",
        "Caller-Destination-Number",
        "variable_domain_name",
        "variable_sb_did",
        "variable_sip_req_host",
    }
)

SessionFactory = Callable[[], Session]


class Lookup(NamedTuple):
    """What a fetch asks for: a user of a domain, or a context for a destination (of a domain, or
    of the tenant holding `number`: in "public" the dialled number itself, in "default" the DID
    a line transferred there)."""

    section: str  # "directory" or "dialplan"
    domain: str
    key: str  # the user id, or the context name
    destination: str = ""
    number: str = ""

    @property
    def by_number(self) -> bool:
        return bool(self.number)

    @property
    def whose(self) -> str:
        """The key of the map that says whose the fetch is (Model.known)."""
        return number_key(self.number) if self.by_number else self.domain


def number_key(destination: str) -> str:
    """A dialled number as the numbers map holds it: its digits, without the one "+" the line
    extension accepts (`^\\+?(digits)$`)."""
    return destination[1:] if destination.startswith("+") else destination


def lookup(fields: Mapping[str, str]) -> Lookup | None:
    """The fetch, when it is one Switchboard answers; None: the not-found document."""
    section = fields.get("section", "")
    if section == "directory":
        if fields.get("tag_name") != "domain" or fields.get("key_name") != "name":
            return None
        if fields.get("purpose") or fields.get("action", "") not in USER_ACTIONS:
            return None
        if fields.get("key", "id") != "id":
            return None
        domain = fields.get("key_value") or fields.get("domain") or ""
        user = fields.get("user", "")
        if not domain or not user:
            return None
        return Lookup("directory", domain.lower(), user)
    if section == "dialplan":
        context = fields.get("Hunt-Context") or fields.get("Caller-Context") or ""
        destination = fields.get("Hunt-Destination-Number") or fields.get("Caller-Destination-Number") or ""
        if context not in CONTEXTS or not destination:
            return None
        if context == names.FS_PUBLIC_CONTEXT:
            return Lookup("dialplan", "", context, destination, destination)
        did = fields.get("variable_sb_did", "")
        if did:
            return Lookup("dialplan", "", context, destination, did)
        domain = fields.get("variable_domain_name") or fields.get("variable_sip_req_host") or ""
        if not domain:
            return None
        return Lookup("dialplan", domain.lower(), context, destination)
    return None


@dataclass(slots=True)
class _TenantAnswers:
    render: TenantRender
    rendered: RenderedConfig
    retime_at: datetime | None
    users: dict[str, bytes] = field(default_factory=dict)
    contexts: dict[str, documents.DialplanContext | None] = field(default_factory=dict)


def _retime_at(render: TenantRender, now: datetime) -> datetime | None:
    """The next moment a number of the tenant stops routing (its render changes by itself)."""
    moments = [
        n.cancel_at
        for n in render.view.data.numbers.values()
        if n.status == "to_be_cancelled" and n.cancel_at is not None and n.cancel_at > now
    ]
    return min(moments, default=None)


def _changes(tenant_id: int, since: model_changes.Since) -> Changes:
    rows = {table: since.rows.get(table, frozenset()) for table in model_changes.TABLES}
    whole = tenant_id in since.tenants or model_changes.EVERY_TENANT in since.tenants
    return Changes(**rows, tenant=whole)


class _Model:
    """One database's answers in this process. Readers take no lock; builds take `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: tuple[str, int] | None = None
        self.domains: dict[str, int] | None = None
        self.numbers: dict[str, int] | None = None  # a number's digits -> its tenant
        self.tenants: dict[int, _TenantAnswers] = {}
        # Tenants whose model did not render at this generation: not retried before a change.
        self.broken: dict[int, str] = {}

    def catch_up(self, session: SessionFactory, log: tuple[str, int], now: datetime) -> None:
        """Apply what the change log says happened since this process last looked."""
        if self.log is not None and self.log[0] == log[0] and log[1] <= self.log[1]:
            return  # already there (another thread caught up while this one waited)
        self.broken = {}
        since = None
        if self.log is not None and self.log[0] == log[0]:
            since = model_changes.since(*self.log)
        if since is None:  # first look, another log, or entries already trimmed: start over
            self.domains = self.numbers = None
            self.tenants = {}
        else:
            if since.tenants:
                self.domains = self.numbers = None
            if since.rows.get("numbers"):
                self.numbers = None
            for tenant_id in list(self.tenants):
                changes = _changes(tenant_id, since)
                if any(changes[:-1]) or changes.tenant:
                    self._refresh(session, tenant_id, changes, now)
        self.log = log

    def _refresh(self, session: SessionFactory, tenant_id: int, changes: Changes, now: datetime) -> None:
        answers = self.tenants[tenant_id]
        try:
            diff = answers.render.refresh(session(), changes, now=now)
        except Exception as exc:
            # A refresh that stopped half way leaves the render unusable: drop it. Deleted or no
            # longer renders: the next full build says which; anything else is the caller's error.
            del self.tenants[tenant_id]
            if isinstance(exc, RenderError):
                return
            raise
        answers.retime_at = _retime_at(answers.render, now)
        if diff.written or diff.removed:
            self.tenants[tenant_id] = _TenantAnswers(
                answers.render, answers.render.rendered, answers.retime_at
            )

    def known(self, found: Lookup) -> dict[str, int] | None:
        """The map that says whose the fetch is (None: not read since the last change)."""
        return self.numbers if found.by_number else self.domains

    def tenant_id(self, session: SessionFactory, found: Lookup) -> int | None:
        if found.by_number:
            numbers = self.numbers
            if numbers is None:
                rows = session().execute(select(PhoneNumber.e164, PhoneNumber.tenant_id))
                numbers = self.numbers = {number_key(e164): tenant_id for e164, tenant_id in rows}
            return numbers.get(found.whose)
        domains = self.domains
        if domains is None:
            rows = session().execute(select(Tenant.domain, Tenant.id))
            domains = self.domains = {d.lower(): tenant_id for d, tenant_id in rows}
        return domains.get(found.whose)

    def answers(self, session: SessionFactory, tenant_id: int, now: datetime) -> _TenantAnswers:
        answers = self.tenants.get(tenant_id)
        if answers is None:
            if tenant_id in self.broken:
                raise RenderError(self.broken[tenant_id])
            try:
                render = open_render(session(), tenant_id, "freeswitch", now=now)
            except RenderError as exc:
                self.broken[tenant_id] = str(exc)
                raise
            answers = _TenantAnswers(render, render.rendered, _retime_at(render, now))
            self.tenants[tenant_id] = answers
        elif answers.retime_at is not None and now >= answers.retime_at:
            self._refresh(session, tenant_id, Changes(), now)
            return self.answers(session, tenant_id, now)
        return answers


_models: dict[str, _Model] = {}
_models_lock = threading.Lock()


def _model() -> _Model:
    url = settings().database_url
    model = _models.get(url)
    if model is None:
        with _models_lock:
            model = _models.setdefault(url, _Model())
    return model


class _LogReader:
    """Idle connections for the generation MGET, taken and given back without a lock (deque
    pop/append are atomic): the pool's lock and bookkeeping cost more than the round trip."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        pool = client.connection_pool
        self.new = lambda: pool.connection_class(**pool.connection_kwargs)
        self.idle: deque[redis.connection.AbstractConnection] = deque()
        self.command = self.new().pack_command("MGET", model_changes.LOG_ID_KEY, model_changes.GENERATION_KEY)

    def read(self) -> list[bytes | None]:
        try:
            connection = self.idle.pop()
        except IndexError:
            connection = self.new()
        try:
            connection.send_packed_command(self.command)
            reply = connection.read_response()
        except BaseException:
            connection.disconnect()  # never hand on a connection with a reply half read
            raise
        self.idle.append(connection)
        return reply  # type: ignore[no-any-return]


_reader: _LogReader | None = None


def _current_log() -> tuple[str, int]:
    """The change log's id and generation: one MGET, on every fetch (model_changes.generation
    names a new log when Redis has none yet)."""
    global _reader
    client = redis_client()  # one per process and REDIS_URL: a fork or a new URL gets a new one
    reader = _reader
    if reader is None or reader.client is not client:
        reader = _reader = _LogReader(client)
    log_id, generation = reader.read()
    if log_id is None:
        return model_changes.generation()
    return (log_id.decode() if isinstance(log_id, bytes) else str(log_id)), int(generation or 0)


def _ready(model: _Model, session: SessionFactory, found: Lookup, now: datetime) -> _TenantAnswers | None:
    """The tenant's answers, current; the fast path takes no lock and queries nothing."""
    log = _current_log()
    known, tenant_id, answers = model.known(found), None, None
    if model.log == log and known is not None:
        tenant_id = known.get(found.whose)
        if tenant_id is None:
            return None
        answers = model.tenants.get(tenant_id)
        if answers is not None and (answers.retime_at is None or now < answers.retime_at):
            return answers
    with model.lock:
        model.catch_up(session, log, now)
        tenant_id = model.tenant_id(session, found)
        return None if tenant_id is None else model.answers(session, tenant_id, now)


def answer(fields: Mapping[str, str], session: SessionFactory, now: datetime | None = None) -> bytes:
    """The document for one fetch. `session` is called only when something must be read from
    the database (first fetch, or after a change): an unchanged model costs no query.
    Raises RenderError when the tenant's model does not render (FreeSWITCH then keeps its
    static XML)."""
    found = lookup(fields)
    if found is None:
        return NOT_FOUND
    model = _model()
    now = now or utcnow()
    answers = _ready(model, session, found, now)
    if answers is None:
        return NOT_FOUND
    if found.section == "directory":
        return _user(model, answers, found.key) or NOT_FOUND
    if found.key not in answers.contexts:
        with model.lock:
            answers.contexts[found.key] = documents.dialplan_context(answers.rendered.files, found.key)
    context = answers.contexts[found.key]
    if context is None or not context.destinations.match(found.destination):
        return NOT_FOUND
    return context.document


def _user(model: _Model, answers: _TenantAnswers, user: str) -> bytes | None:
    """The document holding `user`: a person's file has their desk phone's and their webphone's
    SIP users (names.webphone_user)."""
    extension = names.device_owner(user)
    document = answers.users.get(extension)
    if document is None:
        if documents.user_file(extension) not in answers.rendered.files:
            return None  # unknown users are not remembered: their number is unbounded
        with model.lock:
            document = documents.directory_document(answers.rendered.files, extension)
            if document is not None:
                answers.users[extension] = document
    return document


def forget() -> None:
    """Drop every process-local answer (tests reuse one database URL for several models)."""
    with _models_lock:
        _models.clear()
