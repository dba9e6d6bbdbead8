"""PBX configuration rendered from the telephony model, for FreeSWITCH and Asterisk.

    rendered = render_tenant(session, tenant_id, "asterisk")     # RenderedConfig
    rendered.files          # {relative path: bytes}, sorted by path
    rendered.content_hash   # sha256 over every path and file digest
    rendered.manifest()     # [{"path", "size", "sha256"}] for the API / preview
    write_files(rendered, out_dir)

For repeated renders of one tenant, keep a `TenantRender` and call `refresh` with the ids of
what changed: only the fragments that read those rows are rendered again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from control.render.asterisk import AsteriskRenderer
from control.render.environment import PBX_KINDS
from control.render.freeswitch import FreeswitchRenderer
from control.render.identifiers import RenderError
from control.render.incremental import Changes, RenderDiff, Renderer, TenantRender
from control.render.options import RenderOptions
from control.render.output import RenderedConfig, write_files

__all__ = [
    "PBX_KINDS",
    "Changes",
    "RenderDiff",
    "RenderError",
    "RenderOptions",
    "RenderedConfig",
    "TenantRender",
    "open_render",
    "render_tenant",
    "renderer",
    "write_files",
]


def renderer(kind: str) -> Renderer:
    if kind == "freeswitch":
        return FreeswitchRenderer()
    if kind == "asterisk":
        return AsteriskRenderer()
    raise RenderError(f"unknown PBX kind {kind!r}; expected one of {', '.join(PBX_KINDS)}")


def open_render(
    session: Session,
    tenant_id: int,
    kind: str,
    *,
    now: datetime | None = None,
    options: RenderOptions | None = None,
) -> TenantRender:
    """A full render that can then be refreshed incrementally."""
    return TenantRender.full(session, tenant_id, renderer(kind), now=now, options=options)


def render_tenant(
    session: Session,
    tenant_id: int,
    kind: str,
    *,
    now: datetime | None = None,
    options: RenderOptions | None = None,
) -> RenderedConfig:
    """Every file of the tenant's configuration for one PBX kind; `now` (naive UTC) decides
    which numbers to be cancelled still route. Raises RenderError, writes nothing."""
    return TenantRender.full(
        session, tenant_id, renderer(kind), now=now, options=options, incremental=False
    ).rendered
