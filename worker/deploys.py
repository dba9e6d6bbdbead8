"""The deploy job: render -> validate -> write a new version -> switch live -> reload -> verify -> record.

`run_deploy(record_id)` runs one DeployRecord (a deploy of the tenant's model, or a rollback to
an earlier version) under the node's Redis lock, so a node never has two deploys at once.
Automatic deploys render incrementally from the worker process's cache (worker/render_cache.py,
warmed by `prepare` before the fork); a version holds the entry points with their includes
written in place (the PBX kind's `flatten`), so writing one is a few files, not thousands.
Whatever fails before the switch leaves the live version untouched; whatever fails after it
(reload, verification) switches back, reloads the same parts, and removes the new version. A PBX
that does not answer makes rq retry the job with backoff (control.jobs.RETRY_INTERVALS); the
last attempt fails the deploy visibly. The state of record is the database, never rq results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import LockError
from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from control import jobs
from control.config import settings
from control.db import new_session
from control.models import DeployRecord, PbxNode
from control.redis_conn import redis_client
from control.render import RenderedConfig
from control.services import deploys
from control.services.nodes import node_secret
from worker import render_cache
from worker.asterisk_conf import ConfError
from worker.config_store import ConfigStore, LocalStore, StoreError, prunable
from worker.file_diff import diff_versions
from worker.pbx_errors import PbxError, PbxUnreachable
from worker.pbx_kinds import PbxKind, kind_of
from worker.ssh_store import SshOptions, SshStore

log = logging.getLogger(__name__)

KEEP_VERSIONS = 10


class DeployFailed(Exception):
    """The deploy stops here; the live version was not changed (or was restored)."""


def store_for(node: PbxNode) -> ConfigStore:
    if node.transport == "ssh":
        return SshStore(node.host, node.config_dir, SshOptions.in_data_dir(settings().data_dir))
    return LocalStore(node.config_dir)


@dataclass
class Timer:
    phases: dict[str, int] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)
    _last: float = field(default_factory=time.perf_counter)

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0) + round((now - self._last) * 1000)
        self._last = now

    def total(self) -> int:
        return round((time.perf_counter() - self._started) * 1000)


def prepare(record_id: int) -> None:
    """In the worker process, before it forks the job: bring the node's cached render up to date
    and parse what changed, so the job inherits both. Never fails the job (it re-does the work)."""
    session = new_session()
    try:
        record = session.get(DeployRecord, record_id)
        node = session.get(PbxNode, record.node_id) if record is not None else None
        if record is None or node is None or record.kind != "deploy" or record.result != "queued":
            return
        kind = kind_of(node)
        automatic = (record.diff_summary or {}).get("source") == "auto"
        rendered = render_cache.current(session, node, incremental=automatic, record_id=record.id)
        kind.parse(rendered.files, rendered.digests, rendered.content_hash)
        kind.flatten(rendered.files)
        live = render_cache.live_render(node)
        if live is not None:
            kind.parse(live.files, live.digests, live.content_hash)
    except Exception:
        log.exception("preparing deploy %s", record_id)
    finally:
        session.close()


def run_deploy(record_id: int) -> None:
    session = new_session()
    try:
        record = session.get(DeployRecord, record_id)
        if record is None or record.result in ("success", "failed"):
            return
        node = session.get(PbxNode, record.node_id)
        if node is None:
            return
        lock = redis_client().lock(
            jobs.lock_name(node.id), timeout=jobs.DEPLOY_TIMEOUT, blocking_timeout=jobs.DEPLOY_TIMEOUT
        )
        if not lock.acquire():
            raise PbxUnreachable(f"node {node.name} stayed locked by another deploy")
        try:
            session.refresh(record)
            session.refresh(node)  # what is live may have changed while this job waited
            if record.result in ("success", "failed"):
                return
            Deployment(session, record, node).run()
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("the lock of node %s expired before deploy %s ended", node.name, record_id)
    finally:
        session.close()


class Deployment:
    def __init__(self, session: Session, record: DeployRecord, node: PbxNode) -> None:
        self.session = session
        self.record = record
        self.node = node
        self.kind: PbxKind = kind_of(node)
        self.store = store_for(node)
        self.timer = Timer()
        self.summary: dict[str, Any] = {}
        self.diff_text = ""

    def phase(self, name: str) -> None:
        jobs.set_progress(self.record.id, name)

    def run(self) -> None:
        deploys.start(self.session, self.record, self.node)
        self.session.commit()
        try:
            if self.record.kind == "rollback":
                self._rollback()
            else:
                self._deploy()
        except PbxUnreachable as exc:
            self.session.rollback()
            self._unreachable(str(exc))
        except DeployFailed as exc:
            self.session.rollback()
            self._fail(str(exc))
        except Exception as exc:
            log.exception("deploy %s crashed", self.record.id)
            self.session.rollback()
            self._fail(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            redis_client().delete(jobs.progress_key(self.record.id))

    # --- outcomes ------------------------------------------------------------------------------

    def _fail(self, error: str, node_status: str = "failed") -> None:
        self.summary["timings"] = self.timer.phases | {"total": self.timer.total()}
        deploys.fail(
            self.session,
            self.record,
            self.node,
            error,
            node_status=node_status,
            summary=self.summary,
            diff_text=self.diff_text,
        )
        self.session.commit()

    def _unreachable(self, error: str) -> None:
        job = get_current_job()
        retries_left = job.retries_left if job is not None and job.retries_left else 0
        if retries_left <= 0:
            attempts = 1 + len(jobs.RETRY_INTERVALS) if job is not None else 1
            self._fail(
                f"the PBX did not answer after {attempts} attempts: {error}", node_status="unreachable"
            )
            return
        index = len(jobs.RETRY_INTERVALS) - retries_left
        deploys.unreachable(self.session, self.record, self.node, error, jobs.RETRY_INTERVALS[index])
        self.session.commit()
        raise PbxUnreachable(error)

    def _succeed(self, version: int, content_hash: str, detail: str) -> None:
        self.summary["timings"] = self.timer.phases | {"total": self.timer.total()}
        deploys.succeed(
            self.session,
            self.record,
            self.node,
            version=version,
            content_hash=content_hash,
            summary=self.summary,
            diff_text=self.diff_text,
            detail=detail,
        )
        self.session.commit()

    # --- steps ---------------------------------------------------------------------------------

    def _parse(self, files: Mapping[str, bytes], what: str) -> Any:
        try:
            return self.kind.parse(files)
        except ConfError as exc:
            raise DeployFailed(f"{what}: {exc}") from exc

    def _parse_rendered(self, rendered: RenderedConfig) -> Any:
        try:
            return self.kind.parse(rendered.files, rendered.digests, rendered.content_hash)
        except ConfError as exc:
            raise DeployFailed(f"validation failed: {exc}") from exc

    def _live(self) -> tuple[int | None, dict[str, bytes], Any]:
        """The live version on the PBX: its number, its files, and its objects (None if unreadable)."""
        live = self.store.live_version()
        files = self.store.read_version(live) if live is not None else {}
        rendered = render_cache.live_render(self.node) if live == self.node.live_version else None
        try:
            if rendered is not None:
                model = self.kind.parse(rendered.files, rendered.digests, rendered.content_hash)
            else:
                model = self.kind.parse(files) if files else None
        except ConfError:
            model = None  # hand-edited or foreign: verify everything that is deployed
        return live, files, model

    def _parts(self, new_model: Any, old_model: Any, paths: list[str]) -> set[str]:
        parts = self.kind.changed_parts(new_model, paths)
        if old_model is not None:
            parts |= self.kind.changed_parts(old_model, paths)
        return parts

    def _switch(
        self, pbx: Any, version: int, previous: int | None, parts: set[str], new: Any, old: Any
    ) -> int:
        """Make `version` live, reload `parts`, verify; on failure restore `previous` and raise."""
        try:
            self.store.activate(version)
        except StoreError as exc:
            raise DeployFailed(f"switching to version {version}: {exc}") from exc
        self.timer.lap("switch")
        try:
            self.phase("reloading")
            self.kind.reload(pbx, parts, old, new)
            self.timer.lap("reload")
            self.phase("verifying")
            checked = self.kind.verify(pbx, old, new, parts)
            self.timer.lap("verify")
            return checked
        except PbxError as exc:
            restored = self._restore(pbx, previous, parts, old, new)
            stage = "verification" if "reload" in self.timer.phases else "reload"
            if isinstance(exc, PbxUnreachable):
                raise
            raise DeployFailed(f"{stage} failed, {restored}: {exc}") from exc

    def _restore(self, pbx: Any, previous: int | None, parts: set[str], old: Any, new: Any) -> str:
        """Switch back and reload the same parts, the previous model becoming the target again."""
        if previous is None:
            return "no previous version to restore"
        try:
            self.store.activate(previous)
            self.kind.reload(pbx, parts, new, old if old is not None else new)
        except (PbxError, StoreError) as exc:
            return f"restoring version {previous} failed too ({exc})"
        return f"version {previous} restored"

    def _prune(self) -> None:
        try:
            live = self.store.live_version()
            for version in prunable(self.store.versions(), live, KEEP_VERSIONS):
                self.store.remove_version(version)
        except (StoreError, PbxError) as exc:
            log.warning("pruning old versions on %s: %s", self.node.name, exc)

    def _deploy(self) -> None:
        self.phase("rendering")
        incremental = (self.record.diff_summary or {}).get("source") == "auto"
        try:
            rendered = render_cache.current(
                self.session, self.node, incremental=incremental, record_id=self.record.id
            )
        except Exception as exc:
            raise DeployFailed(f"render failed: {type(exc).__name__}: {exc}") from exc
        self.summary["render"] = "incremental" if incremental else "full"
        self.timer.lap("render")
        self.phase("validating")
        new_model = self._parse_rendered(rendered)
        files = self.kind.flatten(rendered.files)
        self.timer.lap("validate")
        self.phase("connecting")
        with self.kind.connect(self.node, node_secret(self.node)) as pbx:
            self.timer.lap("connect")
            try:
                previous, live_files, old_model = self._live()
            except StoreError as exc:
                raise DeployFailed(str(exc)) from exc
            changes, self.diff_text = diff_versions(live_files, files)
            paths = [change.path for change in changes]
            parts = self._parts(new_model, old_model, paths)
            self.summary |= {
                "previous_version": previous,
                "files": [change.as_dict() for change in changes],
                "parts": sorted(parts),
            }
            self.timer.lap("diff")
            if not changes and previous is not None:
                self.phase("verifying")
                try:
                    checked = self.kind.verify(
                        pbx, None, new_model, self.kind.changed_parts(new_model, files)
                    )
                except PbxUnreachable:
                    raise
                except PbxError as exc:
                    raise DeployFailed(f"no changes to deploy, but the PBX differs: {exc}") from exc
                self.timer.lap("verify")
                self.summary |= {"unchanged": True, "objects_checked": checked}
                self._succeed(previous, rendered.content_hash, f"version {previous} is live (no changes)")
                return
            self.phase("writing")
            version = 1 + max(
                [0, *self.store.versions(), deploys.highest_version(self.session, self.node.id)]
            )
            try:
                self.store.write_version(version, files)
            except StoreError as exc:
                raise DeployFailed(f"writing version {version} failed: {exc}") from exc
            self.timer.lap("write")
            try:
                checked = self._switch(pbx, version, previous, parts, new_model, old_model)
            except (DeployFailed, PbxUnreachable):
                self._discard(version)
                raise
        self.summary["objects_checked"] = checked
        self._prune()
        self._succeed(version, rendered.content_hash, f"version {version} is live")

    def _discard(self, version: int) -> None:
        try:
            self.store.remove_version(version)
        except (StoreError, PbxError) as exc:
            log.warning("removing failed version %s on %s: %s", version, self.node.name, exc)

    def _rollback(self) -> None:
        target = self.record.version
        if target is None:
            raise DeployFailed("rollback without a target version")
        content_hash = self.session.scalar(
            select(DeployRecord.content_hash)
            .where(
                DeployRecord.node_id == self.node.id,
                DeployRecord.version == target,
                DeployRecord.result == "success",
            )
            .order_by(DeployRecord.id.desc())
            .limit(1)
        )
        self.phase("connecting")
        with self.kind.connect(self.node, node_secret(self.node)) as pbx:
            self.timer.lap("connect")
            try:
                if target not in self.store.versions():
                    raise DeployFailed(f"version {target} is no longer on {self.node.name} (pruned)")
                previous, live_files, old_model = self._live()
                files = self.store.read_version(target)
            except StoreError as exc:
                raise DeployFailed(str(exc)) from exc
            self.phase("validating")
            new_model = self._parse(files, f"version {target} does not validate")
            changes, self.diff_text = diff_versions(live_files, files)
            paths = [change.path for change in changes]
            parts = self._parts(new_model, old_model, paths)
            self.summary |= {
                "previous_version": previous,
                "files": [change.as_dict() for change in changes],
                "parts": sorted(parts),
            }
            self.timer.lap("diff")
            checked = self._switch(pbx, target, previous, parts, new_model, old_model)
        self.summary["objects_checked"] = checked
        self._succeed(target, content_hash or "", f"rolled back to version {target}")
