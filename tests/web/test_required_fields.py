"""What the browser requires, the server checks too: every required field of every create form,
posted empty, comes back (400) with its message next to the field."""

from __future__ import annotations

import re

import pytest

FORMS = [
    "/users/new",
    "/teams/new",
    "/lines/new",
    "/numbers/new",
    "/ring-groups/new",
    "/queues/new",
    "/tags/new",
    "/broadcasts/new",
    "/automations/new",
    "/nodes/new",
]
REQUIRED = re.compile(r'<(?:input|textarea) id="([^"]+)" name="\1"[^>]*\brequired\b', re.S)


@pytest.mark.parametrize("path", FORMS)
def test_required_fields_are_checked_on_the_server(admin_client, path: str) -> None:
    form = admin_client.get(path).data.decode()
    required = REQUIRED.findall(form)
    assert required, f"{path}: no required field found"
    response = admin_client.post(path, data={name: "" for name in required})
    assert response.status_code == 400, path
    page = response.data.decode()
    for name in required:
        # the message sits in the field's own block, and the input points at it
        block = re.search(rf'<div class="field has-error">\s*<label for="{name}"[^>]*>.*?</div>', page, re.S)
        assert block, f"{path}: no message next to {name}"
        assert f'<p class="error" id="{name}-error">' in block.group(0)
        assert f'aria-describedby="{name}-error"' in block.group(0)
