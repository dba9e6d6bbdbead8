"""Golden files: the render of the golden tenant, kept in tests/golden/<kind>/<path>."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.orm import Session

from control.render import PBX_KINDS, RenderedConfig, RenderOptions, render_tenant
from tests.render.factories import NOW

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
OPTIONS = RenderOptions()


def render_golden(session: Session, tenant_id: int) -> dict[str, RenderedConfig]:
    return {kind: render_tenant(session, tenant_id, kind, now=NOW, options=OPTIONS) for kind in PBX_KINDS}


def stored(kind: str) -> dict[str, bytes]:
    root = GOLDEN_DIR / kind
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write(kind: str, rendered: RenderedConfig) -> None:
    root = GOLDEN_DIR / kind
    shutil.rmtree(root, ignore_errors=True)
    for path, content in rendered.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
