"""Every admin page in a real Chromium at a laptop (1366 px) and a phone (390 px) width, light and
dark: screenshots (kept outside the repository), no horizontal overflow on a phone, the navigation
on one row on a laptop, axe-core with no serious or critical violation; the ⋯ menus and the
navigation menus by keyboard and mouse without moving the layout; the dashboard live."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from control import live
from control.db import unit_of_work, utcnow
from control.models import (
    Automation,
    CallRecord,
    ContactNumber,
    Line,
    LiveChannel,
    PhoneNumber,
    RingGroup,
    User,
)
from control.services import nodes
from tests.browser.conftest import serving
from tests.web.call_data import add_calls
from tests.web.test_nodes import NODE

pytestmark = pytest.mark.integration

AXE = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor" / "axe.min.js"
WIDTHS = {"laptop": 1366, "phone": 390}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SWITCHBOARD_SCREENSHOTS names a folder to keep them in; by default pytest's temporary one."""
    folder = Path(os.environ.get("SWITCHBOARD_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture()
def busy(demo: dict) -> dict:
    """The demo tenant with a day of calls, a node that deployed once and a call up right now."""
    t = demo["tenant_id"]
    add_calls(t, 60, start=utcnow() - timedelta(hours=2))
    with unit_of_work() as s:
        node = nodes.create_node(s, NODE | {"tenant_id": t}, None)
        node.live_version = 3
        agent = s.query(User).filter_by(tenant_id=t, extension="1001").one()
        s.add(
            LiveChannel(
                node="pbx-1",
                call_id="c-1",
                call_key="k-1",
                user_id=agent.id,
                answered=True,
                started_at=time.time() - 65,
            )
        )
        s.add(
            LiveChannel(
                node="pbx-1",
                call_id="c-2",
                call_key="k-1",
                user_id=None,
                answered=True,
                started_at=time.time() - 66,
            )
        )
        ids = {
            "node_id": node.id,
            "line_id": s.query(Line).filter_by(tenant_id=t, name="Main line").one().id,
            "call_id": s.query(CallRecord).filter_by(tenant_id=t).order_by(CallRecord.id).first().id,
            "ring_group_id": s.query(RingGroup).filter_by(tenant_id=t).first().id,
            "contact_id": s.query(ContactNumber).filter_by(tenant_id=t).first().contact_id,
            "broadcast_id": _broadcast_with_results(s, t),
            "high_risk_id": _high_risk_number(s, t),
            "automation_id": s.query(Automation).filter_by(tenant_id=t).first().id,
        }
    return demo | ids


def _high_risk_number(session, tenant_id: int) -> int:  # type: ignore[no-untyped-def]
    """An active demo number marked high risk: its page offers Replace."""
    from control.services import number_lifecycle

    number = session.query(PhoneNumber).filter_by(tenant_id=tenant_id, status="active").first()
    number_lifecycle.flag_high_risk(session, tenant_id, number.id, None)
    return number.id


def _broadcast_with_results(session, tenant_id: int) -> int:  # type: ignore[no-untyped-def]
    """The demo's broadcast with its audience resolved and a result of each kind."""
    from control.models import Broadcast
    from control.services import broadcast_sending

    broadcast = session.query(Broadcast).filter_by(tenant_id=tenant_id).first()
    rows = broadcast_sending.resolve(session, broadcast)
    for row, status in zip(rows, ("delivered", "failed", "retry"), strict=False):
        row.status, row.attempts, row.detail = status, 1, f"MessageSend: {status}"
    return broadcast.id


@pytest.fixture()
def live_server(busy: dict) -> Iterator[str]:
    from web.app import create_app

    with serving(create_app()) as url:
        yield url


def admin_pages(ids: dict) -> list[str]:
    return [
        "/",
        "/lines/", f"/lines/{ids['line_id']}", "/numbers/", "/numbers/new", "/numbers/buy", "/numbers/rules",
        "/numbers/inventory", f"/numbers/{ids['high_risk_id']}", f"/numbers/{ids['high_risk_id']}/replace", "/ring-groups/",
        f"/ring-groups/{ids['ring_group_id']}", "/queues/", "/queues/new",
        "/users/", "/users/new", f"/users/{ids['agent_id']}", f"/users/{ids['agent_id']}/diagnosis", "/teams/", "/teams/new",
        "/contacts/", f"/contacts/{ids['contact_id']}", "/contacts/team", "/tags/", "/tags/new",
        "/broadcasts/", "/broadcasts/new", f"/broadcasts/{ids['broadcast_id']}", "/automations/", "/automations/new",
        f"/automations/{ids['automation_id']}", f"/automations/{ids['automation_id']}/runs",
        "/calls/", f"/calls/{ids['call_id']}", "/activity/",
        "/nodes/", f"/nodes/{ids['node_id']}", "/render/", "/audit/",
    ]  # fmt: skip


def log_in(page, base: str, demo: dict) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#email", demo["admin_email"])
    page.fill("#password", demo["password"])
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")


def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[node['target'] for node in v['nodes']][:3]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) out.push(`document ${document.documentElement.scrollWidth} > ${width}`);
  document.querySelectorAll('table').forEach((table, i) => {
    const box = table.getBoundingClientRect();
    if (box.left < -0.5 || box.right > width + 0.5) out.push(`table ${i} spans ${box.left}..${box.right}`);
    const holder = table.parentElement;
    if (holder.scrollWidth > holder.clientWidth + 1) out.push(`table ${i} scrolls sideways (${holder.scrollWidth} > ${holder.clientWidth})`);
    table.querySelectorAll('td, th').forEach((cell) => {
      const c = cell.getBoundingClientRect();
      if (c.width && (c.right > width + 0.5 || c.left < -0.5)) out.push(`table ${i} cell cut off: ${cell.textContent.trim().slice(0, 30)}`);
    });
  });
  return out;
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("device", ["laptop", "phone"])
def test_every_admin_page(live_server, browser, busy, screenshots, device: str, theme: str) -> None:
    width = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=theme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server, busy)
    problems: dict[str, list[str]] = {}
    for path in admin_pages(busy):
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle") if path in ("/", "/nodes/") else None
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        name = path.strip("/").replace("/", "-") or "dashboard"
        shot = screenshots / f"{name}-{device}-{theme}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 2000
        found = serious_violations(page)
        if device == "phone":
            found += page.evaluate(OVERFLOW)
        else:
            bar = page.evaluate(
                "() => [document.querySelector('.topbar').offsetHeight,"
                " document.querySelector('.nav-list').offsetHeight,"
                " document.querySelector('.nav-link').offsetHeight]"
            )
            # one row: the bar is no taller than one link plus its padding, the list one link high
            if bar[1] > bar[2] + 4 or bar[0] > 64:
                found.append(f"navigation wraps: bar {bar[0]} px, list {bar[1]} px, link {bar[2]} px")
        if found:
            problems[path] = found
    print(f"screenshots: {screenshots}")
    assert not problems, problems
    assert not errors, errors
    context.close()


def _boxes(page, selector: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        "(sel) => Array.from(document.querySelectorAll(sel)).map((el) => { const b = el.getBoundingClientRect();"
        " return {x: b.x, y: b.y, w: b.width, h: b.height}; })",
        selector,
    )


def _check_row_menu(page, button, layout: str) -> None:  # type: ignore[no-untyped-def]
    """Keyboard: Enter opens on the first item, arrows move, Escape closes and returns the focus;
    a click opens, an outside click closes; nothing in `layout` moves meanwhile."""
    panel_id = button.evaluate(
        "(b) => { const p = b.closest('[data-menu]').querySelector('[data-menu-panel]');"
        " p.id = p.id || 'menu-under-test'; return p.id; }"
    )
    panel = page.locator(f"#{panel_id}")
    items = panel.locator("[role=menuitem]")
    assert items.count() >= 2
    before = _boxes(page, layout)

    button.focus()
    page.keyboard.press("Enter")
    assert panel.is_visible() and button.get_attribute("aria-expanded") == "true"
    assert _boxes(page, layout) == before, "opening the menu moved the page"
    assert items.nth(0).evaluate("(el) => el === document.activeElement")
    page.keyboard.press("ArrowDown")
    assert items.nth(1).evaluate("(el) => el === document.activeElement")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps to the last
    assert items.nth(items.count() - 1).evaluate("(el) => el === document.activeElement")
    page.keyboard.press("Home")
    assert items.nth(0).evaluate("(el) => el === document.activeElement")
    page.keyboard.press("Escape")
    assert not panel.is_visible() and button.get_attribute("aria-expanded") == "false"
    assert button.evaluate("(el) => el === document.activeElement")

    button.click()
    assert panel.is_visible()
    menu_box = panel.bounding_box()
    button_box = button.bounding_box()
    assert menu_box and button_box
    below = menu_box["y"] >= button_box["y"] + button_box["height"] - 1
    above = menu_box["y"] + menu_box["height"] <= button_box["y"] + 1  # near the bottom of the window
    assert below or above, (menu_box, button_box)
    assert _boxes(page, layout) == before, "opening the menu moved the page"
    page.mouse.click(5, page.viewport_size["height"] - 5)  # outside
    assert not panel.is_visible()
    assert _boxes(page, layout) == before


@pytest.mark.parametrize("width", [1366, 390])
def test_row_menus_by_keyboard_and_mouse(live_server, browser, busy, screenshots, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(15_000)
    log_in(page, live_server, busy)

    page.goto(f"{live_server}/users/")
    row = page.locator(f"#user-{busy['agent_id']}")
    # the most used actions stay visible next to the ⋯ menu
    assert (
        row.get_by_role("link", name="Settings").is_visible()
        and row.get_by_role("link", name="Activity").is_visible()
    )
    _check_row_menu(page, row.locator("[data-menu-button]"), "main, main table, main tr, main td")
    row.locator("[data-menu-button]").click()
    page.screenshot(path=str(screenshots / f"users-menu-{width}.png"))
    # an item of the menu works: pausing the agent, from the keyboard
    page.keyboard.press("Escape")
    row.locator("[data-menu-button]").focus()
    page.keyboard.press("Enter")
    pause = row.get_by_role("menuitem", name="Pause")
    while not pause.evaluate("(el) => el === document.activeElement"):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash.success")
    assert "no longer routed" in page.locator(".flash.success").inner_text()

    page.goto(f"{live_server}/numbers/")
    box = page.locator("article.number").first
    _check_row_menu(
        page,
        box.locator("[data-menu-button]"),
        "main, article.number, article.number *:not([data-menu-panel], [data-menu-panel] *)",
    )
    # the menu offers what the status allows: an active number turned red leads with Replace
    page.on("dialog", lambda dialog: dialog.accept())
    mark = page.locator("[role=menuitem]", has_text="Mark high risk")  # in closed menus too
    active = page.locator("article.number").filter(has=mark).first
    box_id = active.get_attribute("id")
    active.locator("[data-menu-button]").click()
    active.get_by_role("menuitem", name="Mark high risk").click()
    page.wait_for_selector(".flash.success")
    red = page.locator(f"#{box_id}")
    items = red.locator("[role=menuitem]")
    assert [items.nth(i).text_content().strip() for i in range(2)] == ["Replace", "Not high risk"]
    _check_row_menu(
        page,
        red.locator("[data-menu-button]"),
        "main, article.number, article.number *:not([data-menu-panel], [data-menu-panel] *)",
    )
    page.close()


def test_navigation_menus(live_server, browser, busy) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(15_000)
    log_in(page, live_server, busy)
    page.goto(f"{live_server}/users/")
    people = page.get_by_role("button", name="People")
    assert "current" in (people.get_attribute("class") or "")
    assert page.locator("#nav-people a[aria-current=page]").inner_text() == "Users"
    telephony = page.get_by_role("button", name="Telephony")
    before = _boxes(page, "main, main *")
    telephony.focus()
    page.keyboard.press("Enter")
    assert page.locator("#nav-telephony").is_visible()
    assert page.locator("#nav-telephony a").nth(0).evaluate("(el) => el === document.activeElement")
    page.keyboard.press("ArrowDown")
    assert page.locator("#nav-telephony a").nth(1).inner_text() == "Numbers"
    assert page.locator("#nav-telephony a").nth(1).evaluate("(el) => el === document.activeElement")
    assert _boxes(page, "main, main *") == before
    page.keyboard.press("Escape")
    assert not page.locator("#nav-telephony").is_visible()
    assert telephony.evaluate("(el) => el === document.activeElement")
    telephony.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/numbers/")
    assert page.get_by_role("button", name="Telephony").get_attribute("class").split().count("current") == 1
    # the dark-mode toggle says what it is and whether it is on
    toggle = page.get_by_role("button", name="Dark mode")
    pressed = toggle.get_attribute("aria-pressed")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") != pressed
    page.close()


def test_dashboard_is_live(live_server, browser, busy, screenshots) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.set_default_timeout(15_000)
    log_in(page, live_server, busy)
    page.wait_for_load_state("networkidle")
    assert page.locator("#calls-today").inner_text() == "60"
    assert page.locator("#calls-missed").inner_text() == "30"
    assert page.locator("#average-wait").inner_text() == "0:12"
    assert page.locator("#live-count").inner_text() == "1"
    assert "Alice Agent" in page.locator("#live-calls").inner_text()
    nodes_text = page.locator("#node-states").inner_text()
    assert "pbx-1" in nodes_text and "Live version 3" in nodes_text and "never deployed" in nodes_text
    page.wait_for_selector("#node-states .badge:has-text('differs from the model')")
    page.screenshot(path=str(screenshots / "dashboard-live.png"))

    # A call comes in and the listener publishes it: the page follows without a reload.
    page.evaluate("window.__not_reloaded = true")
    add_calls(busy["tenant_id"], 1, start=utcnow() - timedelta(minutes=1))
    live.publish_all([(busy["tenant_id"], {"type": "activity", "activity_id": 0, "at": time.time()})])
    page.wait_for_function("document.querySelector('#calls-today').textContent === '61'")
    assert page.evaluate("window.__not_reloaded") is True
    assert "Caller 0" in page.locator("#latest-activity li").first.inner_text()
    page.close()


@pytest.mark.parametrize("device", ["laptop", "phone"])
def test_agent_pages(live_server, browser, busy, screenshots, device: str) -> None:
    """An agent's own pages: the same checks, and no admin navigation."""
    page = browser.new_page(viewport={"width": WIDTHS[device], "height": 900})
    page.set_default_timeout(15_000)
    log_in(page, live_server, busy | {"admin_email": busy["agent_email"]})
    assert page.locator("[data-menu-button]").count() == 0  # no admin groups
    problems = {}
    for path in ("/", "/activity/", "/activity/calls", "/activity/calls?q=0002"):
        assert page.goto(f"{live_server}{path}").status == 200
        page.screenshot(
            path=str(screenshots / f"agent-{path.strip('/').replace('/', '-') or 'home'}-{device}.png")
        )
        found = serious_violations(page) + (page.evaluate(OVERFLOW) if device == "phone" else [])
        if found:
            problems[path] = found
    assert not problems, problems
    assert "Caller 2" in page.locator("table").inner_text()
    page.close()
