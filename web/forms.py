"""Turning submitted forms into the plain dicts services take (including repeated rows)."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

_ROW = re.compile(r"^(?P<group>[a-z_]+)-(?P<index>\d{1,3})-(?P<field>[a-z_]+)$")
LIST_FIELDS = ("team_ids", "tag_ids", "contact_ids", "number_ids")


def form_data(form: MultiDict[str, str], *groups: str) -> dict[str, Any]:
    """Flat fields as values, LIST_FIELDS as lists, `group-N-field` rows as ordered lists of dicts."""
    data: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, str]]] = {g: {} for g in groups}
    for key in form:
        if key == "csrf_token":
            continue
        match = _ROW.match(key)
        if match and match["group"] in rows:
            rows[match["group"]].setdefault(int(match["index"]), {})[match["field"]] = form.get(key, "")
        elif key in LIST_FIELDS:
            data[key] = form.getlist(key)
        else:
            data[key] = form.get(key, "")
    for group, by_index in rows.items():
        data[group] = [by_index[i] for i in sorted(by_index)]
    return data


def checkbox(form: MultiDict[str, str], name: str) -> bool:
    return form.get(name) in ("on", "1", "true", "yes")
