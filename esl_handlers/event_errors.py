"""Why a PBX message did not become a normalised event (listeners count these and go on)."""

from __future__ import annotations


class MalformedEvent(ValueError):
    """A consumed event whose required headers are missing or unreadable."""


class UnknownEvent(LookupError):
    """An event (or sub-kind of one) that no normaliser consumes."""


class ApiResponseError(ValueError):
    """A resync command answered with something other than the expected listing."""
