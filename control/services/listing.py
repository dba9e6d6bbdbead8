"""Paginated, searchable, sortable lists with an allow-list of sort columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from control.errors import Invalid

T = TypeVar("T")

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    *,
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
    sorts: dict[str, Any],
    default_sort: str,
    rows: bool = False,
) -> Page[Any]:
    """Run `stmt` for one page. `sort` is a key of `sorts` (prefix '-' for descending).

    The items are the first selected entity of each row, or whole rows (tuples) with `rows=True`."""
    sort = sort or default_sort
    descending = sort.startswith("-")
    column = sorts.get(sort.lstrip("-"))
    if column is None:
        raise Invalid(f"Cannot sort by “{sort[:40]}”; choose one of: {', '.join(sorts)}.", "sort")
    page = int(page or 1)
    per_page = int(per_page or 50)
    if not 1 <= page <= MAX_PAGE:
        raise Invalid(f"Choose a page from 1 to {MAX_PAGE}.", "page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise Invalid(f"Show 1 to {MAX_PER_PAGE} items a page.", "per_page")
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    ordered = stmt.order_by(column.desc() if descending else column.asc())
    id_column = stmt.selected_columns[0].table.c.id if hasattr(stmt.selected_columns[0], "table") else None
    if id_column is not None:
        ordered = ordered.order_by(id_column)
    window = ordered.limit(per_page).offset((page - 1) * per_page)
    items = (
        [tuple(row) for row in session.execute(window)] if rows else list(session.scalars(window).unique())
    )
    return Page(items=items, total=total, page=page, per_page=per_page)


def like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def status_counts(session: Session, column: Any, tenant_column: Any, tenant_id: int) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(tenant_column == tenant_id).group_by(column))
    return {str(status): count for status, count in rows}
