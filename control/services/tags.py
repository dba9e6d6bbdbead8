from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import Tag, User
from control.services import audit
from control.services.listing import Page, like_pattern, paginate
from control.validators import COLOR_RE, Errors, add, text

SORTS = {"name": Tag.name, "created": Tag.created_at}
MAX_NAME = 60


def get_tag(session: Session, tenant_id: int, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None or tag.tenant_id != tenant_id:
        raise NotFound("tag", tag_id)
    return tag


def list_tags(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Tag]:
    stmt = select(Tag).where(Tag.tenant_id == tenant_id)
    if q:
        stmt = stmt.where(func.lower(Tag.name).like(like_pattern(q.lower()), escape="\\"))
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def all_tags(session: Session, tenant_id: int) -> list[Tag]:
    return list(session.scalars(select(Tag).where(Tag.tenant_id == tenant_id).order_by(Tag.name)))


def _apply(session: Session, tag: Tag, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    tag.name = text(errors, data, "name", required=True, max_len=MAX_NAME)
    color = text(errors, data, "color", max_len=7) or "#6b7280"
    if not COLOR_RE.match(color):
        add(errors, "color", "A colour like #1d4ed8.")
    tag.color = color
    if tag.name and "name" not in errors:
        clash = session.scalar(
            select(Tag).where(Tag.tenant_id == tenant_id, Tag.name == tag.name, Tag.id != (tag.id or 0))
        )
        if clash is not None:
            add(errors, "name", "Another tag already has this name.")
    if errors:
        raise Invalid(errors)


def create_tag(session: Session, tenant_id: int, data: dict, actor: User | None) -> Tag:
    tag = Tag(tenant_id=tenant_id)
    with session.no_autoflush:
        _apply(session, tag, tenant_id, data)
    session.add(tag)
    session.flush()
    audit.write(session, actor, "tag.create", tag)
    return tag


def update_tag(session: Session, tenant_id: int, tag_id: int, data: dict, actor: User | None) -> Tag:
    tag = get_tag(session, tenant_id, tag_id)
    with session.no_autoflush:
        _apply(session, tag, tenant_id, {"name": tag.name, "color": tag.color} | dict(data))
    session.flush()
    audit.write(session, actor, "tag.update", tag)
    return tag


def delete_tag(session: Session, tenant_id: int, tag_id: int, actor: User | None) -> None:
    tag = get_tag(session, tenant_id, tag_id)
    audit.write(session, actor, "tag.delete", tag, name=tag.name)
    session.delete(tag)
    session.flush()
