"""Benchmark: admin lists at 10,000 users and 100,000 contacts.

    .venv/bin/python bench/lists.py [--database-url URL] [--runs 7]

Fills a fresh database (SQLite in a temporary directory unless --database-url names an empty
PostgreSQL database), then prints, per list, the median time of one page through the same
service calls the admin pages make, and its ratio to a baseline measured in the same run: one
page of the same table by primary key with no search, filter or count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USERS, CONTACTS = 10_000, 100_000


def _fill(url: str) -> int:
    from sqlalchemy import insert

    from control.db import engine, unit_of_work
    from control.models import Contact, ContactNumber, User
    from control.services import tenants

    with unit_of_work() as s:
        tenant_id = tenants.create_tenant(s, {"name": "bench", "domain": "bench.example"}).id
    rng = random.Random(7)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    with engine(url).begin() as conn:
        conn.execute(
            insert(User),
            [
                {
                    "tenant_id": tenant_id,
                    "name": f"{rng.choice(words).title()} User{i}",
                    "email": f"u{i}@bench.example",
                    "role": "agent",
                    "extension": str(10000 + i),
                    "language": "en",
                }
                for i in range(USERS)
            ],
        )
        contacts = [
            {
                "tenant_id": tenant_id,
                "first_name": rng.choice(words).title(),
                "last_name": f"Person{i}",
                "company": f"{rng.choice(words).title()} Ltd",
                "search_text": f"{words[i % 10]} person{i}",
            }
            for i in range(CONTACTS)
        ]
        conn.execute(insert(Contact), contacts)
        conn.execute(
            insert(ContactNumber),
            [
                {
                    "contact_id": i + 1,
                    "tenant_id": tenant_id,
                    "label": "mobile",
                    "e164": f"+1202{5550000 + i:07d}",
                }
                for i in range(CONTACTS)
            ],
        )
    return tenant_id


def _median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="switchboard-bench-lists-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch
    url = args.database_url or f"sqlite:///{scratch}/bench.db"
    os.environ["DATABASE_URL"] = url
    from sqlalchemy import select

    from control.db import new_session
    from control.migrate import upgrade
    from control.models import Contact, User
    from control.services import contacts, users

    upgrade(url)
    started = time.perf_counter()
    tenant_id = _fill(url)
    print(
        f"filled {USERS} users and {CONTACTS} contacts in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
    )
    session = new_session()

    def baseline(model):  # type: ignore[no-untyped-def]
        return lambda: list(
            session.scalars(select(model).where(model.tenant_id == tenant_id).order_by(model.id).limit(50))
        )

    cases = [
        ("users: first page, sorted by name", User, lambda: users.list_users(session, tenant_id)),
        ("users: search 'user123'", User, lambda: users.list_users(session, tenant_id, q="user123")),
        (
            "users: search extension digits '1234'",
            User,
            lambda: users.list_users(session, tenant_id, q="1234"),
        ),
        ("contacts: first page, sorted by name", Contact, lambda: contacts.list_contacts(session, tenant_id)),
        (
            "contacts: search name 'person4242'",
            Contact,
            lambda: contacts.list_contacts(session, tenant_id, q="person4242"),
        ),
        (
            "contacts: search any digits '5554242'",
            Contact,
            lambda: contacts.list_contacts(session, tenant_id, q="5554242"),
        ),
        ("contacts: page 500 of 2000", Contact, lambda: contacts.list_contacts(session, tenant_id, page=500)),
    ]
    base = {model: _median_ms(baseline(model), args.runs) for model in (User, Contact)}
    print(f"{'list':45} {'median ms':>10} {'baseline ms':>12} {'ratio':>7}")
    for label, model, fn in cases:
        ms = _median_ms(fn, args.runs)
        print(f"{label:45} {ms:10.2f} {base[model]:12.2f} {ms / base[model]:7.1f}")
    session.close()


if __name__ == "__main__":
    main()
