"""The dashboard against the real Asterisk sandbox, in Chromium: a sipp call shows as a live call
and its Hang up button ends it at sipp; Transfer says what is wrong next to its field; each
node's "listener connected" badge follows `switchboard listen`'s AMI connection (cut, restored,
the listener killed) within the heartbeat's time-to-live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control import listener_status
from tests.browser.conftest import log_in, serving
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.events_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NODE,
    EventsWorld,
    events_world,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx

pytestmark = pytest.mark.integration

BADGE = f'[data-listener-node="{NODE}"]'


@pytest.fixture(scope="module")
def world(
    module_database_url: str, asterisk_sandbox: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventsWorld]:
    with events_world(
        module_database_url, Pbx("asterisk", asterisk_sandbox), tmp_path_factory.mktemp("dashboard")
    ) as built:
        yield built


@pytest.fixture(scope="module")
def live_server(world: EventsWorld) -> Iterator[str]:
    from web.app import create_app

    with serving(create_app()) as url:
        yield url


def _dashboard(browser, base: str, width: int = 1366, theme: str = "light"):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=theme)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    return page


def _no_overflow(page) -> None:  # type: ignore[no-untyped-def]
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


@pytest.mark.parametrize(("width", "theme"), [(1366, "light"), (390, "dark")])
def test_hang_up_a_sipp_call_from_the_dashboard(
    world: EventsWorld, live_server: str, browser, tmp_path: Path, width: int, theme: str
) -> None:
    if "1003" not in world.phones:
        world.register("1003", answer_after=0.3)
    page = _dashboard(browser, live_server, width, theme)
    call = world.sipp.start_call("1003", caller="1004", password=world.secrets["1004"], hold=40, timeout=60)
    row = page.locator("#live-call-list li.live-call", has_text="Cat Cole")
    row.wait_for()  # the dashboard follows the call over the live stream, no reload
    row.locator(".badge", has_text="talking").wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    _no_overflow(page)

    # Transfer asks for the target in a labelled field and says what is wrong next to it.
    row.locator("summary", has_text="Transfer").click()
    field = row.get_by_label("Transfer Cat Cole to")
    field.fill("99999")
    field.press("Enter")
    error = page.locator("#live-call-list li.live-call", has_text="Cat Cole").locator(".field .error")
    error.wait_for()
    assert "Extension 99999 does not exist" in error.inner_text()
    assert page.locator("#live-call-list input[aria-invalid='true']").count() == 1
    _no_overflow(page)
    page.screenshot(path=str(tmp_path / f"dashboard-call-{width}-{theme}.png"), full_page=True)

    answered_at = time.time()
    page.locator("#live-call-list li.live-call", has_text="Cat Cole").get_by_role(
        "button", name="Hang up"
    ).click()
    page.get_by_role("status").filter(has_text="Hanging up").first.wait_for()
    result = call.wait()
    assert result.answered and result.hung_up_by == "callee", result
    assert result.ended_at - answered_at < 10, "ended by the dashboard's Hang up, not by the caller"
    page.locator("#live-call-list li.live-call", has_text="Cat Cole").wait_for(state="detached")
    page.context.close()


def test_listener_connected_follows_the_pbx_connection(world: EventsWorld, live_server: str, browser) -> None:
    page = _dashboard(browser, live_server)
    badge = page.locator(BADGE)
    page.wait_for_selector(f'{BADGE}[data-connected="yes"]')
    assert badge.text_content() == "listener connected"

    # The AMI connection is cut (and refused): the listener says so at once.
    cut_at = time.monotonic()
    world.control_proxy.refuse()
    page.wait_for_selector(f'{BADGE}[data-connected="no"]', timeout=listener_status.TTL * 1000)
    assert badge.text_content() == "listener not connected"
    assert time.monotonic() - cut_at < listener_status.TTL
    assert not listener_status.states([NODE])[NODE].connected

    # Back: connected again, live, without a reload.
    page.evaluate("window.__not_reloaded = true")
    world.control_proxy.accept()
    page.wait_for_selector(f'{BADGE}[data-connected="yes"]', timeout=60_000)
    assert page.evaluate("window.__not_reloaded") is True

    # The listener dies without a word: the heartbeat expires within its time-to-live.
    wait_for("a heartbeat after the reconnect", lambda: listener_status.states([NODE])[NODE].connected)
    killed_at = time.monotonic()
    world.listener.kill()
    page.wait_for_selector(f'{BADGE}[data-connected="no"]', timeout=(listener_status.TTL + 5) * 1000)
    shown_after = time.monotonic() - killed_at
    wait_for(
        "the heartbeat key to expire",
        lambda: not listener_status.states([NODE])[NODE].connected,
        timeout=listener_status.TTL + 5,
    )
    assert shown_after <= listener_status.TTL + 1, shown_after
    # a fresh page reads the same from Redis
    page.reload()
    assert page.locator(BADGE).get_attribute("data-connected") == "no"
    assert page.locator(BADGE).text_content() == "listener not connected"
    page.context.close()
