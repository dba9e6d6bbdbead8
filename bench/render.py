"""Benchmark: render a large tenant for both PBX kinds, fully and after one change.

    .venv/bin/python bench/render.py [--database-url URL] [--runs 5] [--kind freeswitch|asterisk]

Generates a tenant of 10,000 users, 1,000 ring groups (5-20 members), 200 queues, 20,000
numbers on 5,000 lines and 50,000 contacts (SQLite in a temporary directory unless
--database-url is given; the tenant is created there and deleted afterwards), then prints, per
PBX kind, medians of --runs:

  - full render: load + render of every file (target <= 1 s), wall clock and CPU time (on a
    busy shared machine the CPU time is the figure to compare)
  - bytes and files, the time to write those same files to a fresh directory, and
    render time / write time (target <= 5)
  - re-render after renaming one user, through TenantRender.refresh (target <= 50 ms),
    checked against a full render of the same state.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USERS, GROUPS, QUEUES, NUMBERS, LINES, CONTACTS, TEAMS = 10_000, 1_000, 200, 20_000, 5_000, 50_000, 50


def _setup_environment(args: argparse.Namespace) -> tempfile.TemporaryDirectory[str]:
    scratch = tempfile.TemporaryDirectory(prefix="switchboard-bench-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch.name
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{scratch.name}/bench.db"
    return scratch


def generate(session, rng: random.Random) -> int:  # type: ignore[no-untyped-def]
    """Insert the tenant with Core bulk inserts; returns its id."""
    from sqlalchemy import insert, update

    from control import crypto
    from control.db import utcnow
    from control.models import (
        Contact,
        ContactNumber,
        Line,
        PhoneNumber,
        Queue,
        QueueMember,
        RingGroup,
        RingGroupMember,
        Team,
        Tenant,
        User,
        user_teams,
    )

    tag = rng.randrange(10**9)
    tenant = Tenant(
        name=f"bench-{tag}",
        domain=f"bench-{tag}.example.com",
        trunk_host="sip.carrier.example.com",
        trunk_username="bench",
        trunk_secret_enc=crypto.encrypt("trunk-secret"),
    )
    session.add(tenant)
    session.flush()
    tid = tenant.id
    now = utcnow()
    team_ids = list(
        session.scalars(
            insert(Team).returning(Team.id),
            [{"tenant_id": tid, "name": f"Team {i}"} for i in range(TEAMS)],
        )
    )
    secrets_enc = [crypto.encrypt(f"secret-{tag}-{i:05d}-abcdef") for i in range(USERS)]
    users = [
        {
            "tenant_id": tid,
            "name": f"User {i} O'Neil & Co",
            "email": f"u{i}-{tag}@bench.example.com",
            "extension": str(10000 + i),
            "sip_secret_enc": secrets_enc[i],
            "suspended": i % 100 == 7,
            "dnd": i % 100 == 8,
            "routing_paused": i % 50 == 9,
        }
        for i in range(USERS)
    ]
    user_ids = list(session.scalars(insert(User).returning(User.id), users))
    session.execute(
        insert(user_teams), [{"user_id": u, "team_id": team_ids[i % TEAMS]} for i, u in enumerate(user_ids)]
    )

    group_ids = list(
        session.scalars(
            insert(RingGroup).returning(RingGroup.id),
            [
                {
                    "tenant_id": tid,
                    "name": f"Group {i}",
                    "extension": str(20000 + i),
                    "strategy": "parallel" if i % 2 else "sequential",
                    "timeout": 30,
                }
                for i in range(GROUPS)
            ],
        )
    )
    queue_ids = list(
        session.scalars(
            insert(Queue).returning(Queue.id),
            [
                {
                    "tenant_id": tid,
                    "name": f"Queue {i}",
                    "extension": str(30000 + i),
                    "strategy": (
                        "ring_all",
                        "longest_idle",
                        "round_robin",
                        "fewest_calls",
                        "random",
                        "linear",
                    )[i % 6],
                    "wrap_up_time": 10,
                    "max_wait": 300,
                    "ring_timeout": 15 + i % 10,
                }
                for i in range(QUEUES)
            ],
        )
    )
    statuses = ["active"] * 90 + ["to_be_cancelled"] * 4 + ["released"] * 3 + ["pending"] * 2 + ["high_risk"]
    numbers = []
    for i in range(NUMBERS):
        status = statuses[i % 100]
        numbers.append(
            {
                "tenant_id": tid,
                "e164": f"+1{tag % 800 + 200}{2000000 + i:07d}",
                "country": "US",
                "number_type": "fixed_line_or_mobile",
                "status": status,
                "cancel_at": now + timedelta(days=1 if i % 2 else -1)
                if status == "to_be_cancelled"
                else None,
                "do_not_use": i % 50 == 3,
            }
        )
    number_ids = list(session.scalars(insert(PhoneNumber).returning(PhoneNumber.id), numbers))
    lines = []
    for i in range(LINES):
        kind = ("user", "user", "ring_group", "queue")[i % 4] if i % 20 else "external"
        lines.append(
            {
                "tenant_id": tid,
                "name": f"Line {i}",
                "status": "paused" if i % 20 == 5 else "active",
                "default_caller_id_id": number_ids[i * 4],
                "destination_kind": kind,
                "destination_user_id": user_ids[rng.randrange(USERS)] if kind == "user" else None,
                "destination_ring_group_id": group_ids[rng.randrange(GROUPS)]
                if kind == "ring_group"
                else None,
                "destination_queue_id": queue_ids[rng.randrange(QUEUES)] if kind == "queue" else None,
                "destination_value": "+14155550123" if kind == "external" else None,
            }
        )
    line_ids = list(session.scalars(insert(Line).returning(Line.id), lines))
    session.execute(
        update(PhoneNumber),
        [
            {"id": nid, "line_id": line_ids[i // 4]}
            for i, nid in enumerate(number_ids)
            if numbers[i]["status"] != "released"
        ],
    )
    session.execute(
        update(User),
        [
            {"id": uid, "caller_id_number_id": number_ids[i * 2]}
            for i, uid in enumerate(user_ids)
            if i % 3 == 0
        ],
    )
    members = []
    for g, gid in enumerate(group_ids):
        for position in range(5 + g % 16):
            pick = rng.random()
            row = {"ring_group_id": gid, "position": position, "timeout": rng.choice((15, 20, 30, 45))}
            if pick < 0.85:
                row |= {"kind": "user", "user_id": user_ids[rng.randrange(USERS)]}
            elif pick < 0.9 and g:
                row |= {"kind": "ring_group", "member_ring_group_id": group_ids[rng.randrange(g)]}
            elif pick < 0.94:
                row |= {"kind": "did", "number_id": number_ids[rng.randrange(NUMBERS)]}
            elif pick < 0.97:
                row |= {"kind": "external", "value": "+14155550199"}
            else:
                row |= {"kind": "sip_uri", "value": f"sip:desk{g}@partner.example.com"}
            members.append(row)
    session.execute(insert(RingGroupMember), members)
    queue_members = []
    for q, qid in enumerate(queue_ids):
        for position, uid in enumerate(rng.sample(user_ids, 10 + q % 31)):
            queue_members.append(
                {"queue_id": qid, "user_id": uid, "position": position, "active": position % 10 != 3}
            )
    session.execute(insert(QueueMember), queue_members)
    contact_ids = list(
        session.scalars(
            insert(Contact).returning(Contact.id),
            [
                {
                    "tenant_id": tid,
                    "first_name": f"First{i}",
                    "last_name": f"Last{i}",
                    "company": f"Company {i % 997}",
                }
                for i in range(CONTACTS)
            ],
        )
    )
    session.execute(
        insert(ContactNumber),
        [
            {"contact_id": cid, "tenant_id": tid, "e164": f"+1646{3000000 + i:07d}"}
            for i, cid in enumerate(contact_ids)
        ],
    )
    return tid


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_kind(url: str, tid: int, kind: str, runs: int, user_ids: list[int]) -> None:
    from sqlalchemy import update

    from control import db
    from control.models import User
    from control.render import Changes, open_render, render_tenant, write_files

    full_times, cpu_times, write_times, rendered = [], [], [], None
    for _ in range(runs):
        with db.new_session(url) as session:
            started, cpu = time.perf_counter(), time.process_time()
            rendered = render_tenant(session, tid, kind)
            full_times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu)
    assert rendered is not None
    size = sum(len(c) for c in rendered.files.values())
    for _ in range(runs):
        target = Path(tempfile.mkdtemp(prefix="switchboard-bench-write-"))
        shutil.rmtree(target)
        started = time.perf_counter()
        write_files(rendered, target)
        write_times.append(time.perf_counter() - started)
        shutil.rmtree(target)
        os.sync()  # write-back of this run must not slow the next measurement
    full, write = median_ms(full_times), median_ms(write_times)
    print(
        f"{kind}: full render {full:.0f} ms (median of {runs}; first {full_times[0] * 1000:.0f} ms; "
        f"CPU {median_ms(cpu_times):.0f} ms)"
    )
    print(
        f"{kind}: {size:,} bytes in {len(rendered.files):,} files; writing them {write:.0f} ms; render/write ratio {full / write:.2f}"
    )

    with db.new_session(url) as session:
        live = open_render(session, tid, kind)
    change_times, written = [], []
    for round_ in range(runs):
        uid = user_ids[round_ * 997 % len(user_ids)]
        with db.new_session(url) as session:
            session.execute(update(User).where(User.id == uid).values(name=f"Renamed {kind} {round_} {uid}"))
            session.commit()
        with db.new_session(url) as session:
            started = time.perf_counter()
            diff = live.refresh(session, Changes(users=frozenset({uid})))
            change_times.append(time.perf_counter() - started)
        written.append(len(diff.written) + len(diff.removed))
    with db.new_session(url) as session:
        same = render_tenant(session, tid, kind).content_hash == live.rendered.content_hash
    print(
        f"{kind}: one user renamed: re-render {median_ms(change_times):.1f} ms (median of {runs}), "
        f"{statistics.median(written):.0f} files changed; identical to a full render: {'yes' if same else 'NO'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in a temporary directory)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kind", choices=("freeswitch", "asterisk"), action="append")
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    scratch = _setup_environment(args)

    from sqlalchemy import delete, select

    from control import db
    from control.migrate import upgrade
    from control.models import Tenant, User

    url = os.environ["DATABASE_URL"]
    upgrade(url)
    started = time.perf_counter()
    with db.new_session(url) as session:
        tid = generate(session, random.Random(args.seed))
        session.commit()
        user_ids = list(session.scalars(select(User.id).where(User.tenant_id == tid).order_by(User.id)))
    print(
        f"generated {USERS:,} users, {GROUPS:,} ring groups, {QUEUES} queues, {NUMBERS:,} numbers on "
        f"{LINES:,} lines, {CONTACTS:,} contacts in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})"
    )
    try:
        for kind in args.kind or ("freeswitch", "asterisk"):
            bench_kind(url, tid, kind, args.runs, user_ids)
    finally:
        if args.database_url:
            with db.new_session(url) as session:
                session.execute(delete(Tenant).where(Tenant.id == tid))
                session.commit()
        db.dispose_all()
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
