"""Why talking to a PBX failed: unreachable (worth a retry) or refused (it will not get better)."""

from __future__ import annotations


class PbxError(RuntimeError):
    """The PBX answered, but not with what the deploy needs (bad credentials, failed reload)."""


class PbxUnreachable(PbxError):
    """No connection, or no answer in time: the job retries with backoff."""
