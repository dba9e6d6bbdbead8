"""The `switchboard` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import click

from control.db import unit_of_work

if TYPE_CHECKING:
    from esl_handlers.listener_config import ListenerConfig


@click.group(help="Switchboard: control plane for FreeSWITCH and Asterisk.")
def cli() -> None:
    # Edits made here (seed-demo, create-admin, node commands) reach the PBX nodes and the
    # xml_curl caches like the admin's: log the changed rows and apply them after each commit.
    from control import jobs

    jobs.register_apply_handlers()


@cli.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration (creates the database when missing).")
def db_upgrade() -> None:
    from control.migrate import upgrade

    upgrade()
    click.echo("database is up to date")


@cli.command("seed-demo", help="Create the demo tenant (idempotent).")
def seed_demo() -> None:
    from control.demo import DEMO_ADMIN, DEMO_PASSWORD, seed_demo

    with unit_of_work() as session:
        tenant = seed_demo(session)
        name = tenant.name
    click.echo(f"demo tenant '{name}' ready: log in as {DEMO_ADMIN} / {DEMO_PASSWORD}")


def _tenant_id(session, tenant: str | None) -> int:  # type: ignore[no-untyped-def]
    from control.services import tenants

    if tenant:
        found = tenants.find_tenant_by_name(session, tenant)
        if found is None:
            raise click.ClickException(f"no tenant named {tenant!r}")
        return found.id
    all_tenants = tenants.list_tenants(session)
    if len(all_tenants) == 1:
        return all_tenants[0].id
    if not all_tenants:
        created = tenants.create_tenant(session, {"name": "default", "domain": "switchboard.local"})
        return created.id
    raise click.ClickException("several tenants exist: name one with --tenant")


@cli.command("create-admin", help="Create an admin; password from SWITCHBOARD_ADMIN_PASSWORD or stdin.")
@click.argument("email")
@click.option("--name", default="Administrator", show_default=True)
@click.option("--tenant", default=None, help="Tenant name (default: the only one).")
def create_admin(email: str, name: str, tenant: str | None) -> None:
    from control.errors import Invalid
    from control.services import users

    password = os.environ.get("SWITCHBOARD_ADMIN_PASSWORD")
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else click.prompt("Password", hide_input=True, confirmation_prompt=True)
        )
    try:
        with unit_of_work() as session:
            tenant_id = _tenant_id(session, tenant)
            users.create_user(
                session,
                tenant_id,
                {"name": name, "email": email, "role": "admin", "password": password},
                None,
            )
    except Invalid as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"admin {email} created")


@cli.command("create-token", help="Print a new API token for a user.")
@click.argument("email")
def create_token(email: str) -> None:
    from control.services import accounts, users

    with unit_of_work() as session:
        user = users.find_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no user {email}")
        token = accounts.create_token(session, user, "cli")
    click.echo(token)


@cli.command(help="List the web routes.")
def routes() -> None:
    from web.app import create_app

    app = create_app()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = ",".join(sorted(m for m in rule.methods or () if m not in ("HEAD", "OPTIONS")))
        click.echo(f"{rule.rule:55} {methods:22} {rule.endpoint}")


@cli.command(help="Run rq workers for deploys and other jobs.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    from worker.runner import run_worker

    run_worker(burst=burst)


@cli.command(help="Run the web server (and, with the embedded Redis, one worker).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn processes")
@click.option(
    "--with-worker/--no-worker",
    default=None,
    help="Also run one rq worker (default: when Redis is embedded).",
)
@click.option(
    "--with-listener/--no-listener",
    default=None,
    help="Also listen to the PBX nodes' events (default: when Redis is embedded and nodes exist).",
)
@click.option(
    "--demo-pbx", is_flag=True, help="As root: start the sandbox Asterisk as the demo tenant's node."
)
def serve(
    host: str, port: int, workers: int, with_worker: bool | None, with_listener: bool | None, demo_pbx: bool
) -> None:
    from control.config import settings
    from control.redis_conn import start_embedded, stop_embedded
    from web.server import control_socket, run_server

    embedded = not (os.environ.get("REDIS_URL") or settings().redis_url)
    if embedded:
        click.echo(f"starting the embedded Redis at {start_embedded()}")
    children: list[subprocess.Popen] = []
    if with_worker if with_worker is not None else embedded:
        children.append(subprocess.Popen([sys.executable, "-m", "web.cli", "worker"]))
    if demo_pbx:
        _start_demo_pbx()
    if (with_listener if with_listener is not None else embedded) and listener_configs(()):
        children.append(subprocess.Popen([sys.executable, "-m", "web.cli", "listen"]))
    master = os.getpid()
    socket_path = control_socket(settings().data_dir)
    click.echo(
        f"control socket: {socket_path} (gunicornc -s PATH)"
        if socket_path
        else "no control socket: the data dir's path is too long for a unix socket"
    )
    try:
        run_server(host, port, settings().data_dir, workers)
    finally:
        # gunicorn's workers are forks of this process and leave through this frame as well:
        # only the master stops the rq worker and the embedded Redis.
        if os.getpid() == master:
            try:
                for child in reversed(children):
                    _stop_child(child)
            finally:
                if embedded:
                    stop_embedded()


def _stop_child(child: subprocess.Popen, grace: float = 30.0) -> None:
    """A warm shutdown (the worker's running job finishes, the listener closes its connections),
    then a kill if it takes longer than `grace`."""
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        click.echo(f"{' '.join(map(str, child.args))} did not stop within {grace:.0f} s: killed", err=True)
        child.kill()
        child.wait()


def _start_demo_pbx() -> None:
    """The demo PBX of `make run`; a failure is said and the rest of Switchboard serves on."""
    from web import demo_pbx

    if not demo_pbx.is_root():
        click.echo(demo_pbx.NOT_ROOT)
        return
    click.echo("demo PBX: starting the sandbox Asterisk (the first time builds it: a few minutes)")
    try:
        demo = demo_pbx.start_demo_pbx()
    except RuntimeError as exc:
        click.echo(f"demo PBX off: {exc}", err=True)
        return
    _queue_job(demo.deploy_id, "deploy")
    click.echo(
        f"demo PBX: node {demo.node_name}, phones register at 127.0.0.1:{demo.sip_port} "
        "(users' SIP passwords on their pages)"
    )


# --- PBX nodes, deploys and rollbacks ----------------------------------------------------------


@cli.group(help="Phone numbers: the inventory to buy from, approvers, scheduled cancellations.")
def numbers() -> None:
    pass


@numbers.command("load-inventory", help="Add a CSV's numbers (columns: number, type) to the inventory.")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--tenant", default=None, help="Tenant name (default: the only one).")
def numbers_load_inventory(csv_file, tenant: str | None) -> None:  # type: ignore[no-untyped-def]
    from control.errors import Invalid
    from control.number_providers import load_inventory

    try:
        with unit_of_work() as session:
            loaded = load_inventory(session, _tenant_id(session, tenant), csv_file.read())
    except Invalid as exc:
        raise click.ClickException(
            "\n".join(m for messages in exc.errors.values() for m in messages)
        ) from None
    click.echo(f"{loaded.added} numbers added to the inventory ({loaded.already} were there already)")


@numbers.command("approver", help="Grant (or with --revoke take away) the number approver permission.")
@click.argument("email")
@click.option("--revoke", is_flag=True)
def numbers_approver(email: str, revoke: bool) -> None:
    from control.errors import Invalid
    from control.services import number_lifecycle, users

    try:
        with unit_of_work() as session:
            user = users.find_user_by_email(session, email)
            if user is None:
                raise click.ClickException(f"no user with the address {email!r}")
            number_lifecycle.set_approver(session, user, not revoke, None)
    except Invalid as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{email} {'may no longer' if revoke else 'may now'} approve numbers")


@numbers.command(
    "reschedule", help="Queue again the release of every number to be cancelled (after a Redis loss)."
)
def numbers_reschedule() -> None:
    from control import jobs
    from control.services import number_lifecycle

    with unit_of_work() as session:
        due = number_lifecycle.scheduled_cancellations(session)
    for number_id, cancel_at in due:
        jobs.schedule_number_cancellation(number_id, cancel_at)
    click.echo(f"{len(due)} cancellations scheduled")


@cli.group(help="PBX nodes Switchboard deploys to.")
def node() -> None:
    pass


@node.command("add", help="Add a node (secret from --secret or SWITCHBOARD_NODE_SECRET).")
@click.argument("name")
@click.option("--kind", type=click.Choice(["asterisk", "freeswitch"]), required=True)
@click.option("--host", required=True, help="Where AMI / ESL answers (and the SSH host).")
@click.option(
    "--port", "--ami-port", "--esl-port", "port", type=int, default=None, help="AMI 5038 / ESL 8021."
)
@click.option("--user", "username", default="", help="The AMI user (Asterisk).")
@click.option("--secret", envvar="SWITCHBOARD_NODE_SECRET", required=True, help="The AMI or ESL password.")
@click.option("--config-dir", required=True, help="The PBX's configuration directory, e.g. /etc/asterisk.")
@click.option("--transport", type=click.Choice(["local", "ssh"]), default="local", show_default=True)
@click.option("--tenant", default=None, help="Tenant name (default: the only one).")
def node_add(
    name: str,
    kind: str,
    host: str,
    port: int | None,
    username: str,
    secret: str,
    config_dir: str,
    transport: str,
    tenant: str | None,
) -> None:
    from control.errors import Invalid
    from control.services import nodes

    data = {
        "name": name,
        "kind": kind,
        "host": host,
        "port": port,
        "username": username,
        "secret": secret,
        "config_dir": config_dir,
        "transport": transport,
    }
    try:
        with unit_of_work() as session:
            created = nodes.create_node(session, data | {"tenant_id": _tenant_id(session, tenant)}, None)
            port = created.port
    except Invalid as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"node {name} added ({kind} {host}:{port}); deploy it with: switchboard deploy {name}")


@node.command("list", help="List the nodes with their live version and status.")
def node_list() -> None:
    from control.db import new_session
    from control.models import Tenant
    from control.services import nodes

    session = new_session()
    try:
        names = {tenant.id: tenant.name for tenant in session.query(Tenant)}
        rows = nodes.list_nodes(session)
        if not rows:
            click.echo("no nodes: add one with switchboard node add")
        for item in rows:
            live = "-" if item.live_version is None else str(item.live_version)
            click.echo(
                f"{item.name:20} {item.kind:10} {item.host}:{item.port:<6} {item.transport:5} "
                f"live={live:4} {item.status:11} {names.get(item.tenant_id, '?'):12} {item.config_dir}"
            )
    finally:
        session.close()


def _node_named(session, name: str):  # type: ignore[no-untyped-def]
    from control.services import nodes

    found = nodes.find_node_by_name(session, name)
    if found is None:
        raise click.ClickException(f"no node named {name!r} (see switchboard node list)")
    return found


@node.command("remove", help="Remove a node (its PBX keeps the config that is live).")
@click.argument("name")
def node_remove(name: str) -> None:
    from control.services import nodes

    with unit_of_work() as session:
        nodes.delete_node(session, _node_named(session, name).id, None)
    click.echo(f"node {name} removed")


def _queue_job(record_id: int, what: str) -> None:
    from redis.exceptions import RedisError

    from control import jobs

    try:
        jobs.start_deploy_job(record_id)
    except RedisError as exc:
        raise click.ClickException(
            f"{what} #{record_id} could not be queued: Redis is unreachable ({exc})"
        ) from None
    click.echo(f"{what} #{record_id} queued")


def _wait(record_id: int, timeout: float) -> None:
    """Poll the record until it ends; exit 1 when it failed, 2 when no worker finished it in time."""
    import time

    from control.db import new_session
    from control.models import DeployRecord

    deadline = time.monotonic() + timeout
    while True:
        session = new_session()
        try:
            record = session.get(DeployRecord, record_id)
            result = record.result if record else "failed"
            if record is not None and result in ("success", "failed"):
                summary = record.diff_summary or {}
                if result == "success":
                    detail = (
                        "no changes"
                        if summary.get("unchanged")
                        else f"reloaded {', '.join(summary.get('parts', [])) or 'nothing'}"
                    )
                    click.echo(
                        f"{record.kind} #{record.id}: success, version {record.version} is live ({detail}, {record.duration_ms} ms)"
                    )
                    return
                click.echo(f"{record.kind} #{record.id}: failed: {record.error}", err=True)
                raise SystemExit(1)
        finally:
            session.close()
        if time.monotonic() > deadline:
            click.echo(
                f"#{record_id} is still {result} after {timeout:.0f} s: is `switchboard worker` running?",
                err=True,
            )
            raise SystemExit(2)
        time.sleep(0.2)


@cli.command(help="Deploy the model to a node now (rendered, validated, written, reloaded, verified).")
@click.argument("node_name", metavar="NODE")
@click.option("--wait", is_flag=True, help="Wait for the result; exit 1 if the deploy failed.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait waits.")
def deploy(node_name: str, wait: bool, timeout: float) -> None:
    from control.services import deploys

    with unit_of_work() as session:
        record_id = deploys.request_deploy(session, _node_named(session, node_name).id, None, source="cli").id
    _queue_job(record_id, "deploy")
    if wait:
        _wait(record_id, timeout)


@cli.command(help="Switch a node back to an earlier version (default: the one before the live one).")
@click.argument("node_name", metavar="NODE")
@click.argument("version", type=int, required=False)
@click.option("--wait", is_flag=True, help="Wait for the result; exit 1 if the rollback failed.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait waits.")
def rollback(node_name: str, version: int | None, wait: bool, timeout: float) -> None:
    from control.errors import Conflict, Invalid
    from control.services import deploys

    try:
        with unit_of_work() as session:
            node_id = _node_named(session, node_name).id
            record_id = deploys.request_rollback(session, node_id, None, version, source="cli").id
    except Invalid as exc:
        raise click.ClickException(" ".join(exc.errors.get("version", [str(exc)]))) from None
    except Conflict as exc:
        raise click.ClickException(str(exc)) from None
    _queue_job(record_id, "rollback")
    if wait:
        _wait(record_id, timeout)


def listener_configs(node_names: tuple[str, ...]) -> list[ListenerConfig]:
    """What each chosen node's listener needs; a FreeSWITCH node's lists its tenant's
    callcenter queues, whose agents its resync reads."""
    from control import listener_status
    from control.services import nodes, presence
    from esl_handlers.listener_config import ListenerConfig

    with unit_of_work() as session:
        chosen = [n for n in nodes.list_nodes(session) if not node_names or n.name in node_names]
        missing = set(node_names) - {n.name for n in chosen}
        if missing:
            raise click.ClickException(f"no node named {', '.join(sorted(missing))}")
        return [
            ListenerConfig(
                node=n.name,
                pbx=n.kind,
                host=n.host,
                port=n.port,
                secret=nodes.node_secret(n),
                username=n.username,
                callcenter_queues=presence.callcenter_queues(session, n.tenant_id)
                if n.kind == "freeswitch"
                else (),
                commands=True,
                status_ttl=listener_status.TTL,
                tenant_id=n.tenant_id,
            )
            for n in chosen
        ]


@cli.command(help="Listen to the PBX nodes' events (all nodes, or the ones named).")
@click.argument("node_names", nargs=-1, metavar="[NODE]...")
def listen(node_names: tuple[str, ...]) -> None:
    from control.redis_conn import redis_url
    from esl_handlers.listener_process import spawn_listener

    redis_url()  # an embedded Redis is started here, so every listener process shares it
    configs = listener_configs(node_names)
    if not configs:
        raise click.ClickException("no PBX nodes: add one with `switchboard node add`")
    running = {c.node: spawn_listener(c, sink="esl_handlers.sink:database_sink") for c in configs}
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"listening to {', '.join(sorted(running))}")
    by_node = {c.node: c for c in configs}
    while not stopping:
        for name, process in list(running.items()):
            if process.poll() is not None:
                click.echo(f"listener for {name} exited ({process.returncode}); restarting", err=True)
                time.sleep(1)
                running[name] = spawn_listener(by_node[name], sink="esl_handlers.sink:database_sink")
        time.sleep(0.5)
    for process in running.values():
        process.send_signal(signal.SIGTERM)
    for process in running.values():
        process.wait(timeout=30)


@cli.command(help="Render a tenant's PBX configuration into a directory.")
@click.option("--pbx", "kind", type=click.Choice(["freeswitch", "asterisk"]), required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--tenant", default=None, help="Tenant name (default: the only one).")
def render(kind: str, out_dir: str, tenant: str | None) -> None:
    from pathlib import Path

    from control.render import RenderError, render_tenant, write_files

    try:
        with unit_of_work() as session:
            rendered = render_tenant(session, _tenant_id(session, tenant), kind)
        write_files(rendered, Path(out_dir))
    except (RenderError, FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(rendered.files)} files written to {out_dir} (content hash {rendered.content_hash})")


if __name__ == "__main__":
    cli()
