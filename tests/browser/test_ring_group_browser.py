"""A real headless Chromium drives the ring-group form: login, add a member row, htmx refresh, save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from control.models import RingGroup, User
from tests.browser.conftest import serving

pytestmark = pytest.mark.integration


@pytest.fixture()
def live_server(database_url: str, demo: dict) -> Iterator[str]:
    from web.app import create_app

    with serving(create_app()) as url:
        yield url


def test_create_ring_group_with_two_members(live_server, browser, demo, session, tmp_path: Path) -> None:
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/login")
    page.fill("#email", demo["admin_email"])
    page.fill("#password", demo["password"])
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{live_server}/")

    page.goto(f"{live_server}/ring-groups/new")
    page.fill("#name", "Browser desk")
    page.fill("#extension", "640")
    page.select_option("#strategy", "sequential")
    page.fill("#timeout", "45")  # the members ring 25 + 20 seconds one after another
    assert page.locator("#members .row").count() == 1
    page.select_option("#members-0-target", label="Bob Baker (1002)")
    page.fill("#members-0-timeout", "25")

    page.click("button[data-add-row='members']")
    assert page.locator("#members .row").count() == 2
    # Choosing another kind swaps the target field in place (htmx re-renders the form body).
    page.select_option("#members-1-kind", "external")
    page.wait_for_selector("input#members-1-target[type='tel']")
    assert page.input_value("#members-0-target") == str(
        session.query(User).filter_by(extension="1002").one().id
    )
    assert page.input_value("#name") == "Browser desk"
    page.fill("#members-1-target", "+1 415 555 0188")

    page.click("button.primary:has-text('Save')")
    page.wait_for_url(f"{live_server}/ring-groups/")
    row = page.locator("tr", has_text="Browser desk")
    assert "2 members" in row.inner_text()
    assert "sequential" in row.inner_text().lower()
    page.screenshot(path=str(tmp_path / "ring-groups.png"), full_page=True)
    print(f"screenshot: {tmp_path / 'ring-groups.png'}")
    assert (tmp_path / "ring-groups.png").stat().st_size > 1000

    group = session.query(RingGroup).filter_by(extension="640").one()
    assert group.name == "Browser desk" and group.strategy == "sequential"
    assert [(m.kind, m.value, m.timeout) for m in group.members][1] == ("external", "+14155550188", 20)
    assert (group.members[0].kind, group.members[0].timeout) == ("user", 25)
