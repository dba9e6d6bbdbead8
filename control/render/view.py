"""Read access to a snapshot that remembers what each fragment read.

Every accessor records a dependency key, so an incremental render knows exactly which fragments
a changed row can affect. The view also keeps the in-memory joins (lines by destination user,
numbers by line, queues by member) and the time-dependent rules for numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from control.render.snapshot import GroupRow, LineRow, NumberRow, QueueRow, Snapshot, UserRow

Key = tuple  # ("user", 3), ("lines_of_user", 3), ("tenant_cid",) ...


class View:
    def __init__(self, snapshot: Snapshot, now: datetime) -> None:
        self.data = snapshot
        self.now = now
        self.deps: set[Key] = set()
        self.lines_by_user: dict[int, set[int]] = {}
        self.numbers_by_line: dict[int, set[int]] = {}
        self.queues_by_user: dict[int, set[int]] = {}
        for line in snapshot.lines.values():
            self._index_line(line, add=True)
        for number in snapshot.numbers.values():
            self._index_number(number, add=True)
        for queue in snapshot.queues.values():
            self._index_queue(queue, add=True)
        self.tenant_cid = self._tenant_cid()

    # -- recording ---------------------------------------------------------------------------
    def track(self) -> set[Key]:
        """Start recording into a fresh set (returned)."""
        self.deps = set()
        return self.deps

    def user(self, user_id: int | None) -> UserRow | None:
        self.deps.add(("user", user_id))
        return self.data.users.get(user_id)  # type: ignore[arg-type]

    def number(self, number_id: int | None) -> NumberRow | None:
        self.deps.add(("number", number_id))
        return self.data.numbers.get(number_id)  # type: ignore[arg-type]

    def line(self, line_id: int | None) -> LineRow | None:
        self.deps.add(("line", line_id))
        return self.data.lines.get(line_id)  # type: ignore[arg-type]

    def group(self, group_id: int | None) -> GroupRow | None:
        self.deps.add(("group", group_id))
        return self.data.groups.get(group_id)  # type: ignore[arg-type]

    def queue(self, queue_id: int | None) -> QueueRow | None:
        self.deps.add(("queue", queue_id))
        return self.data.queues.get(queue_id)  # type: ignore[arg-type]

    def lines_of_user(self, user_id: int) -> list[LineRow]:
        """Lines whose destination is this user, by id."""
        self.deps.add(("lines_of_user", user_id))
        return [line for lid in sorted(self.lines_by_user.get(user_id, ())) if (line := self.line(lid))]

    def numbers_of_line(self, line_id: int) -> list[NumberRow]:
        """The line's numbers, by E.164."""
        self.deps.add(("numbers_of_line", line_id))
        found = [n for nid in self.numbers_by_line.get(line_id, ()) if (n := self.number(nid))]
        return sorted(found, key=lambda n: n.e164)

    def queues_of_user(self, user_id: int) -> list[QueueRow]:
        self.deps.add(("queues_of_user", user_id))
        return [q for qid in sorted(self.queues_by_user.get(user_id, ())) if (q := self.queue(qid))]

    def tenant_caller_id(self) -> str | None:
        self.deps.add(("tenant_cid",))
        return self.tenant_cid

    # -- rules -------------------------------------------------------------------------------
    def routes(self, number: NumberRow) -> bool:
        """Inbound calls to this number reach its line: active, or to be cancelled and not yet."""
        if number.status == "active":
            return True
        if number.status == "to_be_cancelled":
            return number.cancel_at is None or self.now < number.cancel_at
        return False

    def presentable(self, number: NumberRow) -> bool:
        """May be presented as outbound caller ID: never do_not_use, only while it routes."""
        return not number.do_not_use and self.routes(number)

    def _tenant_cid(self) -> str | None:
        """The default caller ID of the tenant's first line (by id) that has a usable one."""
        for lid in sorted(self.data.lines):
            line = self.data.lines[lid]
            number = self.data.numbers.get(line.default_caller_id_id)  # type: ignore[arg-type]
            if number is not None and self.presentable(number):
                return number.e164
        return None

    # -- index maintenance (incremental renders) -----------------------------------------------
    def _index_line(self, line: LineRow, add: bool) -> None:
        if line.destination.kind == "user" and line.destination.user_id is not None:
            ids = self.lines_by_user.setdefault(line.destination.user_id, set())
            ids.add(line.id) if add else ids.discard(line.id)

    def _index_number(self, number: NumberRow, add: bool) -> None:
        if number.line_id is not None:
            ids = self.numbers_by_line.setdefault(number.line_id, set())
            ids.add(number.id) if add else ids.discard(number.id)

    def _index_queue(self, queue: QueueRow, add: bool) -> None:
        for member in queue.members:
            ids = self.queues_by_user.setdefault(member.user_id, set())
            ids.add(queue.id) if add else ids.discard(queue.id)

    def replace(self, table: str, rows: dict[int, object], ids: Iterable[int]) -> set[Key]:
        """Swap in re-read rows of `table` (absent id = deleted); return the join keys that moved."""
        store: dict[int, object] = getattr(self.data, table)
        index = {"lines": self._index_line, "numbers": self._index_number, "queues": self._index_queue}.get(
            table
        )
        moved: set[Key] = set()
        for row_id in ids:
            old, new = store.get(row_id), rows.get(row_id)
            if old == new:
                continue
            for row in (old, new):
                if row is None:
                    continue
                if table == "lines" and row.destination.kind == "user":  # type: ignore[attr-defined]
                    moved.add(("lines_of_user", row.destination.user_id))  # type: ignore[attr-defined]
                elif table == "numbers":
                    moved.add(("numbers_of_line", row.line_id))  # type: ignore[attr-defined]
                elif table == "queues":
                    moved.update(("queues_of_user", m.user_id) for m in row.members)  # type: ignore[attr-defined]
            if index is not None and old is not None:
                index(old, add=False)  # type: ignore[operator]
            if new is None:
                store.pop(row_id, None)
            else:
                store[row_id] = new
                if index is not None:
                    index(new, add=True)  # type: ignore[operator]
            moved.add((table[:-1], row_id))
        return moved

    def retime(self, now: datetime) -> set[Key]:
        """Move the clock; return the numbers whose routing or presentability changed."""
        before = self.now
        self.now = now
        changed: set[Key] = set()
        for number in self.data.numbers.values():
            if number.status == "to_be_cancelled" and number.cancel_at is not None:
                if (before < number.cancel_at) != (now < number.cancel_at):
                    changed.add(("number", number.id))
        return changed

    def refresh_tenant_cid(self) -> set[Key]:
        new = self._tenant_cid()
        if new == self.tenant_cid:
            return set()
        self.tenant_cid = new
        return {("tenant_cid",)}
