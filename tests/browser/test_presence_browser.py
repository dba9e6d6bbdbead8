"""A users page open in a real Chromium follows a person's presence live, over SSE, without a
reload: `switchboard listen` hears the sandbox Asterisk, sipp registers the phone and calls it,
and the status dot goes offline -> available -> in call -> available, each within a second of
what the phone did."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import log_in, serving
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.events_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CONTACT_NUMBER,
    LINE_A,
    EventsWorld,
    events_world,
)
from tests.integration.pbx_kinds import Pbx

pytestmark = pytest.mark.integration

#: Records every change of the dot's state with the browser's clock (epoch milliseconds).
OBSERVE_DOT = """(userId) => {
  const dot = document.querySelector(`[data-presence-user="${userId}"]`);
  window.__dot = [{state: dot.dataset.presence, at: Date.now()}];
  new MutationObserver(() => {
    const last = window.__dot[window.__dot.length - 1];
    if (dot.dataset.presence !== last.state) {
      window.__dot.push({state: dot.dataset.presence, at: Date.now()});
    }
  }).observe(dot, {attributes: true, attributeFilter: ["data-presence"]});
}"""


@pytest.fixture()
def world(database_url: str, asterisk_sandbox: AsteriskSandbox, tmp_path: Path) -> Iterator[EventsWorld]:
    with events_world(database_url, Pbx("asterisk", asterisk_sandbox), tmp_path) as built:
        yield built


@pytest.fixture()
def live_server(world: EventsWorld) -> Iterator[str]:
    from web.app import create_app

    with serving(create_app()) as url:
        yield url


def _dot_changes(page) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    return [(c["state"], c["at"] / 1000) for c in page.evaluate("window.__dot")]


def _wait_state(page, user_id: int, state: str, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector(
        f'[data-presence-user="{user_id}"][data-presence="{state}"]', timeout=timeout * 1000
    )


def test_a_status_dot_follows_a_call_without_reload(
    world: EventsWorld,
    live_server: str,
    browser,
    tmp_path: Path,
) -> None:
    ann = world.user_id("1001")
    page = browser.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(f"{live_server}/users/")
    dot = page.locator(f'[data-presence-user="{ann}"]')
    assert dot.get_attribute("data-presence") == "offline"
    page.evaluate(OBSERVE_DOT, ann)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    registered_at = time.time()
    phone = world.register("1001", answer_after=0.5)
    _wait_state(page, ann, "available")

    call = world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=2.0, timeout=20)
    _wait_state(page, ann, "in_call")
    result = call.wait()
    assert result.answered, result
    _wait_state(page, ann, "available")
    page.screenshot(path=str(tmp_path / "presence.png"), full_page=True)

    answered = next(e.at for e in phone.events() if e.kind == "ANSWER")
    hung_up = next(e.at for e in phone.events() if e.kind == "BYE")
    changes = _dot_changes(page)
    assert [state for state, _ in changes] == ["offline", "available", "in_call", "available"], changes
    (_, online_at), (_, in_call_at), (_, free_at) = changes[1:]
    # Each change shows within a second of what the phone did (REGISTER sent, 200 OK sent, BYE in).
    print(
        f"dot latency: in call {in_call_at - answered:.3f} s after the 200 OK, "
        f"available {free_at - hung_up:.3f} s after the BYE"
    )
    assert 0 <= online_at - registered_at < 1.0 + 0.5, "REGISTER is a sipp process of its own"
    assert 0 <= in_call_at - answered < 1.0, (answered, changes)
    assert 0 <= free_at - hung_up < 1.0, (hung_up, changes)
    assert navigations == [], "no reload: the dot changed in place"
    assert page.locator(f'[data-presence-user="{ann}"]').get_attribute("class") == "dot dot-available"
