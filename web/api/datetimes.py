"""Dates and times in the API: answered in UTC with `Z`; taken in ISO 8601 within the years the
services accept (control.validators.DATE_YEARS), a rule the document states as a pattern."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import marshmallow as ma
from marshmallow import fields

from control.validators import DATE_YEARS


def _date_pattern(years: range) -> str:
    """YYYY-MM-DD for a real day of one of `years`, a whole century (February 29 in leap years)."""
    century, first = divmod(years.start, 100)
    assert first == 0 and len(years) == 100 and years.step == 1, "a century of years"
    leap_in_century = "[02468][048]|[13579][26]" if century % 4 == 0 else "0[48]|[2468][048]|[13579][26]"
    days = (
        "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        "|02-(?:0[1-9]|1[0-9]|2[0-8])"
    )
    return f"(?:{century}[0-9]{{2}}-(?:{days})|{century}(?:{leap_in_century})-02-29)"


DATE = _date_pattern(DATE_YEARS)
TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME_RE = re.compile(f"^{DATE}[T ]{TIME}{OFFSET}?$")
DAY_OR_DATE_TIME_RE = re.compile(f"^{DATE}(?:[T ]{TIME}{OFFSET}?)?$")
YEARS = f"years {DATE_YEARS[0]} to {DATE_YEARS[-1]}"


def naive_utc(moment: datetime) -> datetime:
    """The database keeps naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


class UtcDateTime(fields.DateTime):
    """An instant the database keeps as naive UTC, answered as RFC 3339 with `Z`."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return naive_utc(value).isoformat() + "Z"


class DateTimeInput(fields.String):
    """An ISO 8601 date and time; UTC unless it carries an offset; loads as naive UTC."""

    pattern = DATE_TIME_RE
    help = f"An ISO 8601 date and time (UTC unless an offset is given), {YEARS}."

    def __init__(self, description: str = "", **kwargs: Any) -> None:
        metadata = {"pattern": self.pattern.pattern, "description": f"{description} {self.help}".strip()}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not self.pattern.fullmatch(text):
            raise ma.ValidationError(self.help)
        return self.parse(text)

    def parse(self, text: str) -> datetime:
        return naive_utc(datetime.fromisoformat(text))


class Moment(DateTimeInput):
    """A day or an instant, in a query; `end_of_day` makes a bare date cover that whole day (an
    inclusive 'to')."""

    pattern = DAY_OR_DATE_TIME_RE
    help = f"YYYY-MM-DD (a whole day) or an ISO 8601 date and time (UTC unless an offset is given), {YEARS}."

    def __init__(self, description: str, *, end_of_day: bool = False) -> None:
        super().__init__(description, load_default=None)
        self.end_of_day = end_of_day

    def parse(self, text: str) -> datetime:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time())
            return moment + timedelta(days=1) if self.end_of_day else moment
        return super().parse(text)
