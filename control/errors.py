"""Errors services raise; the web and API layers turn them into messages and 4xx answers."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base for every error a service raises on purpose."""


class NotFound(SwitchboardError):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what
        self.ident = ident


class Invalid(SwitchboardError):
    """Bad input. `errors` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[str]] | str, field: str | None = None) -> None:
        if isinstance(errors, str):
            errors = {field or "_": [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class Conflict(SwitchboardError):
    """The request is valid but clashes with the current state (e.g. dependencies exist)."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class Forbidden(SwitchboardError):
    pass
