"""Where numbers are bought and to where they return: the provider interface.

A provider sells phone numbers to a tenant. Switchboard asks it three things:

* ``search(query)``: the numbers it can sell now, by country (ISO 3166 code, e.g. "FR"), type
  ("local", "toll_free", "mobile", ...: control.models.numbers.NUMBER_TYPES) and digits the
  number contains; at most ``query.limit`` of them, in a stable order.
* ``buy(e164)``: take one of them for the tenant. It returns what was bought; it raises
  ``control.errors.Conflict`` when the number is no longer for sale (someone else was quicker)
  and ``ProviderError`` when the provider cannot be reached or refuses for another reason.
* ``release(e164)``: give a number back (unrent, or a replaced number whose 30 days are over).
  Releasing a number the provider does not know, or already has back, is not an error.

A provider is made for one unit of work by its factory: ``factory(context) -> NumberProvider``,
where ``context`` carries the session (a provider that keeps state in Switchboard's database
writes through it and never commits: the edge commits) and the tenant. Factories are found by
name through the ``switchboard.number_providers`` entry point group, so a carrier's API is
plugged in as a package::

    # pyproject.toml of the package "switchboard-acme"
    [project.entry-points."switchboard.number_providers"]
    acme = "switchboard_acme:make_provider"

and chosen with ``SWITCHBOARD_NUMBER_PROVIDER=acme``. The provider that ships with Switchboard,
``inventory``, sells from a CSV file the operator loads (``switchboard numbers load-inventory``
or the Numbers → Inventory page): numbers bought leave the inventory and released ones return.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.config import settings
from control.errors import Conflict, Invalid
from control.models.numbers import NUMBER_TYPES, InventoryNumber
from control.phone import digits_only, parse_number
from control.validators import Errors, add

ENTRY_POINT_GROUP = "switchboard.number_providers"
INVENTORY = "inventory"
SEARCH_LIMIT = 50
MAX_INVENTORY_ROWS = 100_000


class ProviderError(Exception):
    """The provider could not do what was asked (unreachable, refused); the message says why."""


@dataclass(frozen=True, slots=True)
class NumberQuery:
    country: str = ""  # ISO code, "" for any
    number_type: str = ""  # one of NUMBER_TYPES, "" for any
    digits: str = ""  # digits the number contains, "" for any
    limit: int = SEARCH_LIMIT


@dataclass(frozen=True, slots=True)
class AvailableNumber:
    e164: str
    country: str
    number_type: str


@dataclass(frozen=True, slots=True)
class ProviderContext:
    session: Session
    tenant_id: int


@runtime_checkable
class NumberProvider(Protocol):
    name: str

    def search(self, query: NumberQuery) -> list[AvailableNumber]: ...

    def buy(self, e164: str) -> AvailableNumber: ...

    def release(self, e164: str) -> None: ...


ProviderFactory = Callable[[ProviderContext], NumberProvider]


class InventoryProvider:
    """Sells from the tenant's inventory (table number_inventory), loaded from a CSV file."""

    name = INVENTORY

    def __init__(self, context: ProviderContext) -> None:
        self.session = context.session
        self.tenant_id = context.tenant_id

    def _row(self, e164: str) -> InventoryNumber | None:
        return self.session.scalar(
            select(InventoryNumber).where(
                InventoryNumber.tenant_id == self.tenant_id, InventoryNumber.e164 == e164
            )
        )

    def search(self, query: NumberQuery) -> list[AvailableNumber]:
        stmt = select(InventoryNumber).where(
            InventoryNumber.tenant_id == self.tenant_id, InventoryNumber.available.is_(True)
        )
        if query.country:
            stmt = stmt.where(InventoryNumber.country == query.country.upper())
        if query.number_type:
            stmt = stmt.where(InventoryNumber.number_type == query.number_type)
        if digits := digits_only(query.digits):
            stmt = stmt.where(InventoryNumber.e164.contains(digits, autoescape=True))
        rows = self.session.scalars(stmt.order_by(InventoryNumber.e164).limit(query.limit))
        return [AvailableNumber(row.e164, row.country, row.number_type) for row in rows]

    def buy(self, e164: str) -> AvailableNumber:
        row = self._row(e164)
        if row is None or not row.available:
            raise Conflict(f"{e164} is no longer for sale.")
        row.available = False
        self.session.flush()
        return AvailableNumber(row.e164, row.country, row.number_type)

    def release(self, e164: str) -> None:
        row = self._row(e164)
        if row is not None:
            row.available = True
            self.session.flush()


@dataclass(frozen=True, slots=True)
class InventoryLoad:
    added: int
    already: int  # rows whose number was in the inventory already (left as they were)


def load_inventory(session: Session, tenant_id: int, text: str) -> InventoryLoad:
    """Add a CSV's numbers to the tenant's inventory: a header row with a column ``number``
    (any format with its country code, or E.164) and optional ``type`` (otherwise the type the
    number plan gives). Every bad row is reported by its line, and then nothing is loaded."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "number" not in fields:
        raise Invalid("The first line must name the columns, with one named 'number' (and 'type').", "file")
    reader.fieldnames = fields
    errors: Errors = {}
    seen: dict[str, AvailableNumber] = {}
    for line_no, row in enumerate(reader, start=2):
        if line_no - 1 > MAX_INVENTORY_ROWS:
            add(errors, "file", f"At most {MAX_INVENTORY_ROWS} numbers per file.")
            break
        raw = (row.get("number") or "").strip()
        if not raw:
            continue
        try:
            parsed = parse_number(raw if raw.startswith("+") else "+" + digits_only(raw), "")
        except Invalid as exc:
            add(errors, "file", f"Line {line_no}: {' '.join(m for ms in exc.errors.values() for m in ms)}")
            continue
        kind = (row.get("type") or "").strip().lower() or parsed.number_type
        if kind not in NUMBER_TYPES:
            add(errors, "file", f"Line {line_no}: type must be one of {', '.join(NUMBER_TYPES)}.")
            continue
        seen[parsed.e164] = AvailableNumber(parsed.e164, parsed.country, kind)
    if errors:
        raise Invalid(errors)
    if not seen:
        raise Invalid("The file has no numbers.", "file")
    known = set(
        session.scalars(
            select(InventoryNumber.e164).where(
                InventoryNumber.tenant_id == tenant_id, InventoryNumber.e164.in_(list(seen))
            )
        )
    )
    for e164, number in seen.items():
        if e164 not in known:
            session.add(
                InventoryNumber(
                    tenant_id=tenant_id,
                    e164=e164,
                    country=number.country,
                    number_type=number.number_type,
                    available=True,
                )
            )
    session.flush()
    return InventoryLoad(added=len(seen) - len(known), already=len(known))


def inventory_counts(session: Session, tenant_id: int) -> tuple[int, int]:
    """(available, bought) numbers of the tenant's inventory."""
    rows = session.scalars(select(InventoryNumber.available).where(InventoryNumber.tenant_id == tenant_id))
    flags = list(rows)
    return sum(flags), len(flags) - sum(flags)


def factories() -> dict[str, ProviderFactory]:
    """Every installed provider by name: the built-in inventory and the entry points' ones."""
    found: dict[str, ProviderFactory] = {INVENTORY: InventoryProvider}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.load())
    return found


def configured_name() -> str:
    return settings().number_provider


def provider(session: Session, tenant_id: int, name: str | None = None) -> NumberProvider:
    """The provider called `name` (default: the configured one) for this unit of work."""
    chosen = name or configured_name()
    factory = factories().get(chosen)
    if factory is None:
        raise ProviderError(f"No number provider named {chosen!r} is installed.")
    return factory(ProviderContext(session=session, tenant_id=tenant_id))
