"""The agent portal in a real Chromium at 1280 and 390 px, light and dark: screenshots, no
horizontal overflow on a phone, axe-core with no serious or critical violation; the phonebook by
mouse, the history live, and call notifications asking for the browser's permission."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from control import live
from control.db import unit_of_work, utcnow
from control.models import Contact, User
from control.services import contacts
from tests.browser.conftest import serving
from tests.browser.test_admin_ui_browser import OVERFLOW, screenshots, serious_violations  # noqa: F401
from tests.web.call_data import add_calls
from tests.web.portal_data import BOB, user_id

pytestmark = pytest.mark.integration

WIDTHS = {"laptop": 1280, "phone": 390}


@pytest.fixture()
def portal(demo: dict) -> Iterator[dict]:
    """The demo tenant with alice's calls and favourites, served; yields ids and the base URL."""
    from web.app import create_app

    add_calls(demo["tenant_id"], 30, start=utcnow() - timedelta(hours=2))
    with unit_of_work() as s:
        alice = s.get(User, demo["agent_id"])
        assert alice is not None
        carol = s.query(User).filter_by(email="carol@acme.example").one()
        contacts.set_favourite(s, alice, favourite_user_id=carol.id)
        mum = s.query(Contact).filter_by(owner_user_id=alice.id).one().id
    with serving(create_app()) as url:
        yield demo | {"base": url, "mum_id": mum}


def log_in_as_agent(page, portal: dict) -> None:  # type: ignore[no-untyped-def]
    base = portal["base"]
    page.goto(f"{base}/login")
    page.fill("#email", portal["agent_email"])
    page.fill("#password", portal["password"])
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")


def portal_pages(ids: dict) -> list[str]:
    return [
        "/portal/phonebook", "/portal/phonebook/new", f"/portal/phonebook/{ids['mum_id']}",
        "/portal/history/", "/portal/contacts/", "/portal/contacts/team", "/portal/queues/",
        "/portal/settings/",
    ]  # fmt: skip


# Every control a person can use has a name a screen reader says (a label, aria-label(ledby),
# or its own text); returns the ones that have none.
UNLABELLED = """() => Array.from(document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button, a[href], [role=switch]'
)).filter((el) => el.offsetParent !== null || el.type === 'checkbox').filter((el) => {
  if (el.labels && el.labels.length && Array.from(el.labels).some((l) => l.textContent.trim())) return false;
  if ((el.getAttribute('aria-label') || '').trim()) return false;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(' ').some((id) => (document.getElementById(id)?.textContent || '').trim())) return false;
  if ((el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim()) return false;
  if ((el.getAttribute('title') || '').trim() || (el.getAttribute('placeholder') || '').trim()) return false;
  return true;
}).map((el) => el.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("device", ["laptop", "phone"])
def test_every_portal_page(portal, browser, screenshots, device: str, theme: str) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": WIDTHS[device], "height": 900}, color_scheme=theme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in_as_agent(page, portal)
    assert page.locator("[data-menu-button]").count() == 0  # an agent has no admin groups
    problems: dict[str, list[str]] = {}
    for path in portal_pages(portal):
        response = page.goto(f"{portal['base']}{path}")
        assert response is not None and response.status == 200, path
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        shot = screenshots / f"{path.strip('/').replace('/', '-')}-{device}-{theme}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 2000
        found = serious_violations(page) + page.evaluate(UNLABELLED)
        if device == "phone":
            found += page.evaluate(OVERFLOW)
        if found:
            problems[path] = found
    print(f"screenshots: {screenshots}")
    assert not problems, problems
    assert not errors, errors
    context.close()


def test_phonebook_by_mouse(portal, browser) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    log_in_as_agent(page, portal)
    base = portal["base"]
    page.goto(f"{base}/portal/phonebook")
    page.get_by_role("link", name="New contact").click()
    page.get_by_label("Name").fill("Garage")
    page.get_by_label("Phone number").fill("202 555 0160")
    page.get_by_role("button", name="Add contact").click()
    page.wait_for_selector(".flash.success")
    assert "+12025550160" in page.locator("#phonebook-results").inner_text()
    # search as you type: digits
    page.get_by_role("searchbox").fill("0160")
    page.wait_for_function("!document.querySelector('#phonebook-results').textContent.includes('Mum')")
    assert "Garage" in page.locator("#phonebook-results").inner_text()
    # edit by clicking the name; delete with the X (confirmed)
    page.get_by_role("link", name="Garage", exact=True).click()
    page.get_by_label("Name").fill("Garage Smith")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Contact saved.")
    page.get_by_role("button", name="Delete Garage Smith").click()
    page.wait_for_selector("text=Garage Smith deleted from your phonebook.")
    assert "Garage" not in page.locator("#phonebook-results").inner_text()
    page.close()


def test_history_is_live(portal, browser, screenshots) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    log_in_as_agent(page, portal)
    page.goto(f"{portal['base']}/portal/history/")
    page.wait_for_load_state("networkidle")
    rows = page.locator("#history-results tbody tr")
    assert rows.count() == 30
    page.evaluate("window.__not_reloaded = true")
    # a call ends and the listener publishes its activity: the page follows without a reload
    add_calls(portal["tenant_id"], 1, start=utcnow())
    live.publish_all([(portal["tenant_id"], {"type": "activity", "activity_id": 0, "at": time.time()})])
    page.wait_for_function("document.querySelectorAll('#history-results tbody tr').length === 31")
    assert page.evaluate("window.__not_reloaded") is True
    first = rows.first.inner_text()
    assert "+12025550000" in first and "Missed" in first
    # "add contact" opens New contact with the number filled in
    rows.first.get_by_role("link", name="Add contact").click()
    assert page.get_by_label("Phone number").input_value() == "+12025550000"
    page.screenshot(path=str(screenshots / "portal-history-add-contact.png"))
    page.close()


def test_notifications_ask_for_permission_when_turned_on(portal, browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 900})
    context.grant_permissions(["notifications"], origin=portal["base"])
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in_as_agent(page, portal)
    page.goto(f"{portal['base']}/portal/settings/")
    toggle = page.get_by_label("Show a browser notification when a call comes in")
    assert toggle.is_checked()
    assert not page.get_by_role("button", name="Save", exact=True).is_visible()  # saved at once with JS
    toggle.uncheck()
    page.wait_for_selector("text=Call notifications off.")
    with unit_of_work() as s:
        assert s.get(User, portal["agent_id"]).notifications is False  # type: ignore[union-attr]
    page.get_by_label("Show a browser notification when a call comes in").check()
    page.wait_for_selector("text=Call notifications on.")
    assert page.evaluate("Notification.permission") == "granted"
    with unit_of_work() as s:
        assert s.get(User, portal["agent_id"]).notifications is True  # type: ignore[union-attr]

    # alice's phone rings (her presence turns "ringing" on the live stream): a notification shows
    page.goto(f"{portal['base']}/portal/phonebook")
    page.evaluate(RECORD_NOTIFICATIONS)
    ringing = {
        "type": "presence",
        "user_id": portal["agent_id"],
        "state": "available",
        "line_state": "ringing",
    }
    someone_else = ringing | {"user_id": user_id(BOB)}
    deadline = time.monotonic() + 15
    while not page.evaluate("window.__shown.length"):  # until the page's stream is connected
        assert time.monotonic() < deadline, "no notification"
        live.publish_all([(portal["tenant_id"], someone_else), (portal["tenant_id"], ringing)])
        page.wait_for_timeout(200)
    # the stream is connected: another user's ringing shows nothing, alice's own shows one
    page.evaluate(
        "window.__shown = []; window.__seen = 0;"
        " document.addEventListener('live:message', () => { window.__seen += 1; })"
    )
    live.publish_all([(portal["tenant_id"], someone_else), (portal["tenant_id"], ringing)])
    page.wait_for_function("window.__seen === 2")  # both handled (portal.js listens first)
    assert page.evaluate("window.__shown") == ["Incoming call"]
    context.close()


RECORD_NOTIFICATIONS = """() => {
  const Real = window.Notification;
  window.__shown = [];
  window.Notification = function (title, options) { window.__shown.push(title); return new Real(title, options); };
  window.Notification.permission = Real.permission;
}"""


def test_queue_switches_and_status_by_mouse(portal, browser, screenshots) -> None:  # noqa: F811
    """The switch turns one queue off and on again at once (no reload); the status button top right
    turns Do Not Disturb on and off, and the dot shows what others see."""
    from sqlalchemy import select

    from control.models import QueueMember

    def active() -> bool:
        with unit_of_work() as s:
            member = s.scalar(select(QueueMember).where(QueueMember.user_id == portal["agent_id"]))
            assert member is not None
            return member.active

    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.set_default_timeout(15_000)
    log_in_as_agent(page, portal)
    page.goto(f"{portal['base']}/portal/queues/")
    page.evaluate("window.__not_reloaded = true")
    switch = page.get_by_role("switch", name="Helpdesk")
    assert switch.is_checked() and active()
    switch.click()
    page.wait_for_selector("text=You receive no calls from Helpdesk.")
    assert not switch.is_checked() and not active()
    page.screenshot(path=str(screenshots / "portal-queues-off-390.png"), full_page=True)
    switch.click()
    page.wait_for_selector("text=You receive the calls of Helpdesk.")
    assert active() and page.evaluate("window.__not_reloaded") is True

    status = page.get_by_role("button", name="Online")
    status.click()
    page.get_by_role("button", name="Do Not Disturb").wait_for()
    with unit_of_work() as s:
        assert s.get(User, portal["agent_id"]).dnd is True  # type: ignore[union-attr]
    page.screenshot(path=str(screenshots / "portal-status-dnd-390.png"))
    page.get_by_role("button", name="Do Not Disturb").click()
    page.get_by_role("button", name="Online").wait_for()
    with unit_of_work() as s:
        assert s.get(User, portal["agent_id"]).dnd is False  # type: ignore[union-attr]
    assert page.evaluate("window.__not_reloaded") is True
    page.close()


def test_avatar_upload_shows_in_the_header(portal, browser, tmp_path) -> None:
    from tests.web.test_portal_avatar import jpeg_with_exif

    picture = tmp_path / "me.jpg"
    picture.write_bytes(jpeg_with_exif())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    log_in_as_agent(page, portal)
    page.goto(f"{portal['base']}/portal/settings/")
    page.get_by_label("Picture").set_input_files(str(picture))
    page.get_by_role("button", name="Upload avatar").click()
    page.wait_for_selector("text=Avatar saved.")
    header = page.locator(".portal-me img.avatar")
    assert header.evaluate("img => img.complete && img.naturalWidth") == 192  # re-encoded, 256 px high
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"<svg><script>alert(1)</script></svg>")
    page.get_by_label("Picture").set_input_files(str(bad))
    page.get_by_role("button", name="Upload avatar").click()
    page.wait_for_selector("#avatar-error")
    assert "Choose a PNG, JPEG or WebP image." in page.locator("#avatar-error").inner_text()
    page.close()
