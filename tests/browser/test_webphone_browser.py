"""The portal's webphone in a real Chromium (fake microphone) against each sandbox PBX (Asterisk,
then FreeSWITCH: select one with -k asterisk / -k freeswitch): the page registers over WSS as the
agent's webphone device, calls a sipp phone and is called from outside, with RTP both ways
(counted where sipp's SDP points and by the page's getStats), and two agents' pages call each
other through the PBX while the listener turns it into presence and history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from control import config, db
from control.services import users
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, serving
from tests.browser.test_admin_ui_browser import OVERFLOW, screenshots, serious_violations  # noqa: F401
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.events_world import (
    CONTACT_NUMBER,
    DOMAIN,
    LINE_A,
    EventsWorld,
    admin_api,
    events_world,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx
from tests.integration.rtp_echo import RtpEcho

pytestmark = pytest.mark.integration

AGENT_PASSWORD = "webphone-agent-password"
MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]

#: RTP packets the page's live call sent and received so far (getStats).
RTP_STATS = """async () => {
  const pc = window.switchboardWebphone.peerConnection();
  if (!pc) return null;
  const out = {sent: 0, received: 0};
  (await pc.getStats()).forEach((report) => {
    if (report.kind !== "audio") return;
    if (report.type === "outbound-rtp") out.sent += report.packetsSent || 0;
    if (report.type === "inbound-rtp") out.received += report.packetsReceived || 0;
  });
  return out;
}"""

#: The Notification API, granted, recording what the page shows (headless Chromium shows none).
RECORD_NOTIFICATIONS = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({title, body: (options || {}).body, tag: (options || {}).tag}); }
  close() {}
};
"""

#: Records every change of a presence dot with the browser's clock (epoch milliseconds).
OBSERVE_DOT = """(userId) => {
  const dot = document.querySelector(`[data-presence-user="${userId}"]`);
  window.__dot = [{state: dot.dataset.presence, at: Date.now()}];
  new MutationObserver(() => {
    const last = window.__dot[window.__dot.length - 1];
    if (dot.dataset.presence !== last.state) window.__dot.push({state: dot.dataset.presence, at: Date.now()});
  }).observe(dot, {attributes: true, attributeFilter: ["data-presence"]});
}"""


@pytest.fixture()
def world(
    database_url: str, pbx: Pbx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EventsWorld]:
    if pbx.is_freeswitch:
        monkeypatch.setenv("SWITCHBOARD_FS_WEBPHONE_URL", f"wss://{{host}}:{pbx.wss_port}")
    else:
        monkeypatch.setenv("SWITCHBOARD_WEBPHONE_URL", f"wss://{{host}}:{pbx.wss_port}/ws")
    config.reset_settings()
    with events_world(database_url, pbx, tmp_path) as built:
        with db.unit_of_work() as s:
            for extension in ("1001", "1002"):
                users.set_password(s, built.tenant_id, built.user_id(extension), AGENT_PASSWORD, None)
        yield built
    config.reset_settings()


@pytest.fixture()
def live_server(world: EventsWorld) -> Iterator[str]:
    from web.app import create_app

    with serving(create_app()) as url:
        yield url


@pytest.fixture()
def media_browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MEDIA_ARGS)
        yield chromium
        chromium.close()


def _agent_page(browser, live_server: str, extension: str, path: str = "/portal/phonebook", **context_args):  # type: ignore[no-untyped-def]
    """A logged-in agent's portal page whose webphone says it is registered."""
    context = browser.new_context(ignore_https_errors=True, **context_args)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server}/login")
    page.fill("#email", f"{extension}@events.example")
    page.fill("#password", AGENT_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{live_server}/**")
    page.goto(f"{live_server}{path}")
    page.wait_for_selector('[data-wp-status][data-state="ready"]')
    return page


def _shot(world: EventsWorld, folder: Path, name: str) -> str:
    """Where a screenshot goes: the README's are Asterisk's, FreeSWITCH's carry its name."""
    return str(folder / (name if not world.pbx.is_freeswitch else name.replace(".png", "-freeswitch.png")))


def _rtp_both_ways(page, at_least: int = 25) -> dict:  # type: ignore[no-untyped-def]
    return wait_for(
        "RTP sent and received in the page",
        lambda: (s := page.evaluate(RTP_STATS)) and s["sent"] >= at_least and s["received"] >= at_least and s,
        timeout=15,
        every=0.2,
    )


def test_the_page_registers_and_calls_a_sipp_phone_with_rtp_both_ways(
    world: EventsWorld,
    live_server: str,
    media_browser,
    screenshots: Path,  # noqa: F811
) -> None:
    page = _agent_page(media_browser, live_server, "1001")
    contact = wait_for("the webphone contact on the PBX", lambda: world.pbx.webphone_contact("1001", DOMAIN))
    assert "1001-webphone" in contact, contact
    assert page.locator("[data-webphone]").is_visible()

    with RtpEcho() as echo:
        ben = world.sipp.phone("1002", world.secrets["1002"], answer_after=0.3, rtp_port=echo.port)
        page.fill("#wp-number", "1002")
        page.click("[data-wp-dial-button]")
        page.wait_for_selector("[data-wp-call]:visible")
        page.wait_for_selector("[data-wp-status]:has-text('In call with 1002')")
        invite = next(m for m in ben.uas.messages() if m.method == "INVITE")
        assert invite.headers.get("content-type") == "application/sdp", invite.headers
        assert int(invite.headers.get("content-length", "0")) > 0, invite.headers
        stats = _rtp_both_ways(page)
        wait_for("RTP at the sipp phone's media port", lambda: echo.received >= 25)
        page.screenshot(path=_shot(world, screenshots, "webphone-in-call-laptop-light.png"))
        page.click("[data-wp-hangup]")
        wait_for("the BYE at the sipp phone", lambda: any(e.kind == "BYE" for e in ben.events()))
        page.wait_for_selector("[data-wp-status]:has-text('Call ended')")
        assert page.locator("[data-wp-call]").is_hidden()
    print(
        f"webphone -> sipp: page sent {stats['sent']}, received {stats['received']}; sipp got {echo.received}"
    )


def test_a_call_from_outside_rings_the_page_and_the_caller_hangs_up(
    world: EventsWorld,
    live_server: str,
    media_browser,
    screenshots: Path,  # noqa: F811
) -> None:
    """On a phone (390 px) in dark mode: the panel fits, every control is labelled (axe)."""
    page = _agent_page(
        media_browser, live_server, "1001", viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    with RtpEcho() as echo:
        call = world.outside.start_call(
            LINE_A, caller=CONTACT_NUMBER, hold=6.0, timeout=40, rtp_port=echo.port
        )
        page.wait_for_selector("[data-wp-incoming]:visible")
        caller = page.locator("[data-wp-caller]").inner_text()
        assert CONTACT_NUMBER.lstrip("+") in caller.replace("+", ""), caller
        # Ann has call notifications on (the default): one, tagged like portal.js's ringing one.
        notes = wait_for("the incoming-call notification", lambda: page.evaluate("window.__notes"))
        # (the body is the caller as the PBX names it; inner_text trims it)
        notes = [{**note, "body": (note["body"] or "").strip()} for note in notes]
        assert {"title": "Incoming call", "body": caller, "tag": "switchboard-ringing"} in notes, notes
        assert page.evaluate(OVERFLOW) == [] and serious_violations(page) == []
        page.screenshot(path=_shot(world, screenshots, "webphone-incoming-phone-dark.png"), full_page=True)
        page.click("[data-wp-answer]")
        page.wait_for_selector("[data-wp-call]:visible")
        assert page.evaluate(OVERFLOW) == [] and serious_violations(page) == []
        page.screenshot(path=_shot(world, screenshots, "webphone-in-call-phone-dark.png"), full_page=True)
        stats = _rtp_both_ways(page)
        wait_for("RTP at the caller's media port", lambda: echo.received >= 25)
        # The caller hangs up (sipp's BYE after `hold`): the page's call ends too.
        page.wait_for_selector("[data-wp-status]:has-text('Call ended')", timeout=30_000)
        result = call.wait()
    assert result.answered, result
    # 200 OK in and ACK out at the caller; the page answered and saw the ACK (Established).
    messages = call.process.messages()
    assert any(m.status == 200 and m.cseq[1] == "INVITE" and not m.sent for m in messages)
    assert any(m.method == "ACK" and m.sent for m in messages)
    print(
        f"sipp -> webphone: page sent {stats['sent']}, received {stats['received']}; sipp got {echo.received}"
    )


def test_two_agents_call_each_other_and_see_it_live(
    world: EventsWorld,
    live_server: str,
    media_browser,
    screenshots: Path,  # noqa: F811
) -> None:
    ben_id = world.user_id("1002")
    alice = _agent_page(media_browser, live_server, "1001", "/portal/contacts/team")
    bob = _agent_page(media_browser, live_server, "1002", "/portal/phonebook")
    alice.wait_for_selector(f'[data-presence-user="{ben_id}"][data-presence="available"]')
    alice.evaluate(OBSERVE_DOT, ben_id)

    alice.fill("#wp-number", "1002")
    alice.click("[data-wp-dial-button]")
    bob.wait_for_selector("[data-wp-incoming]:visible")
    assert "Ann Archer" in bob.locator("[data-wp-caller]").inner_text()
    answered_at = time.time()
    bob.click("[data-wp-answer]")
    alice.wait_for_selector(f'[data-presence-user="{ben_id}"][data-presence="in_call"]')
    in_call_at = next(c["at"] for c in alice.evaluate("window.__dot") if c["state"] == "in_call") / 1000
    _rtp_both_ways(alice)
    _rtp_both_ways(bob)
    alice.screenshot(path=_shot(world, screenshots, "webphone-alice-team-in-call.png"), full_page=True)
    bob.click("[data-wp-hangup]")
    alice.wait_for_selector("[data-wp-status]:has-text('Call ended')")
    bob.wait_for_selector("[data-wp-status]:has-text('Call ended')")
    print(f"bob's dot in call on alice's page {in_call_at - answered_at:.3f} s after he clicked Answer")
    assert 0 <= in_call_at - answered_at < 1.0

    world.wait_record("the webphone call's record", lambda r: r.answered_at is not None, timeout=15)
    # Neither has the other in their phonebook: the history names the number (the extension).
    for page, other, kind in ((alice, "1002", "Outbound"), (bob, "1001", "Inbound")):
        # The table is in the HTML; the webphone's scripts (loading on a busy machine) are not needed.
        page.goto(f"{live_server}/portal/history/", wait_until="commit")
        page.wait_for_selector("tbody tr")
        row = page.locator("tbody tr").filter(has_text=other)
        assert row.count() == 1, page.locator("tbody").inner_text()
        assert kind in row.inner_text(), row.inner_text()


#: How the ring-both scenario reaches the agent, on each PBX kind.
RING_BOTH_CASES = ("direct", "queue", "click-to-call")


def test_the_desk_phone_and_the_page_ring_together(
    world: EventsWorld,
    live_server: str,
    media_browser,
) -> None:
    """A call to the agent's extension (through their line), a queue call offered to the agent and
    a click-to-call for the agent each ring the desk phone and the webphone at once; the page
    answers and the desk phone stops ringing (CANCEL)."""
    desk = world.register("1001", answer_after=None)  # rings until cancelled
    world.wait_registered("1001")
    ben = world.register("1002", answer_after=None)
    world.wait_registered("1002")
    page = _agent_page(media_browser, live_server, "1001")
    wait_for("the webphone contact on the PBX", lambda: world.pbx.webphone_contact("1001", DOMAIN))
    api = admin_api("webphone-ring-both")
    for case in RING_BOTH_CASES:
        invites = len(desk.invites())
        cancels = sum(1 for e in desk.events() if e.kind == "CANCEL")

        def desk_cancelled(before: int = cancels) -> bool:
            return sum(1 for e in desk.events() if e.kind == "CANCEL") > before

        command_id = None
        if case == "direct":
            call = world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=30.0, timeout=40)
        elif case == "queue":
            call = world.sipp.start_call("700", caller="1003", password=world.secrets["1003"], hold=30.0)
        else:
            answer = api.post("/api/v1/calls", {"user_id": world.user_id("1001"), "target": "1002"})
            assert answer.status_code == 202, answer.get_json()
            command_id, call = answer.get_json()["id"], None
        page.wait_for_selector("[data-wp-incoming]:visible")
        desk.wait_for_invites(invites + 1)
        page.click("[data-wp-answer]")
        page.wait_for_selector("[data-wp-call]:visible")
        wait_for(f"{case}: the desk phone's CANCEL once the page answered", desk_cancelled)
        if command_id is not None:
            # the answered webphone's call goes on to the target: Ben's phone rings
            ben.wait_for_invites(1)
        page.click("[data-wp-hangup]")
        page.wait_for_selector("[data-wp-status]:has-text('Call ended')")
        if call is not None:
            result = call.wait()
            assert result.answered, (case, result)
        world.pbx.hang_up_all()
        wait_for(f"{case}: no call left on the PBX", world.pbx.no_calls, timeout=15)
        print(f"{case}: the desk phone and the page rang together; the page answered")


def _queue_member_state(sandbox: AsteriskSandbox, extension: str) -> str:
    """How app_queue sees the member (its state interface, the user's hint): "Not in use", "In use"..."""
    for line in sandbox.cli("queue show queue-700").splitlines():
        if f"Local/{extension}@switchboard-devices" in line:
            return line
    return ""


@pytest.mark.parametrize("pbx", ["asterisk"], indirect=True)  # how Asterisk shows it
def test_a_queue_call_and_a_click_to_call_ring_the_webphone_and_the_desk_phone(
    world: EventsWorld,
    live_server: str,
    media_browser,
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    """Every device of the agent rings: the desk phone (sipp, ringing until cancelled) and the page.
    The queue member is the agent, whose state is both devices' (in use while the page talks)."""
    from sqlalchemy import select

    from control.models import PhoneNumber, User
    from control.services import my_account
    from tests.integration.events_world import LINE_B, OUTSIDE_NUMBER, admin_api, deploy

    desk = world.register("1001", answer_after=None)
    page = _agent_page(media_browser, live_server, "1001")
    wait_for("the webphone contact on the PBX", lambda: world.pbx.webphone_contact("1001", DOMAIN))
    wait_for("Ann free in queue 700", lambda: "Not in use" in _queue_member_state(asterisk_sandbox, "1001"))

    # A queue call: both ring; the page answers, the desk phone is cancelled, the member is in use.
    before = len(desk.invites())
    with RtpEcho() as echo:
        call = world.sipp.start_call(
            "700", caller="1003", password=world.secrets["1003"], hold=6.0, timeout=40, rtp_port=echo.port
        )
        page.wait_for_selector("[data-wp-incoming]:visible")
        desk.wait_for_invites(before + 1)
        page.click("[data-wp-answer]")
        page.wait_for_selector("[data-wp-call]:visible")
        _rtp_both_ways(page)
        wait_for("the desk phone's CANCEL", lambda: any(e.kind == "CANCEL" for e in desk.events()))
        in_use = wait_for(
            "Ann in use in queue 700",
            lambda: "In use" in (s := _queue_member_state(asterisk_sandbox, "1001")) and s,
        )
        page.wait_for_selector("[data-wp-status]:has-text('Call ended')", timeout=30_000)
        result = call.wait()
    assert result.answered, result
    print(f"queue member during the webphone's call: {in_use.strip()}")

    # Click-to-call (the API's originate): both ring, shown as the target; the page answers and
    # the PBX dials the target through the trunk with Ann's own caller ID (she chose line B's).
    with db.unit_of_work() as s:
        line_b = s.scalar(select(PhoneNumber.id).where(PhoneNumber.e164 == LINE_B))
        my_account.choose_caller_id(s, s.get(User, world.user_id("1001")), line_b)
    deploy(world.node_id)
    wait_for(
        "Ann free again", lambda: "Not in use" in _queue_member_state(asterisk_sandbox, "1001"), timeout=20
    )
    before, cancels = len(desk.invites()), sum(e.kind == "CANCEL" for e in desk.events())
    trunk_invites = len(world.trunk.invites())
    answer = admin_api("ringall").post(
        "/api/v1/calls", {"user_id": world.user_id("1001"), "target": OUTSIDE_NUMBER}
    )
    assert answer.status_code == 202, answer.get_json()
    page.wait_for_selector("[data-wp-incoming]:visible")
    desk.wait_for_invites(before + 1)
    assert OUTSIDE_NUMBER.lstrip("+") in page.locator("[data-wp-caller]").inner_text().replace("+", "")
    page.click("[data-wp-answer]")
    world.trunk.wait_for_invites(trunk_invites + 1, timeout=15)
    invite = [m for m in world.trunk.uas.messages() if not m.sent and m.method == "INVITE"][-1]
    assert OUTSIDE_NUMBER in invite.start_line and LINE_B in invite.headers["from"], invite.headers
    wait_for("the desk phone's CANCEL", lambda: sum(e.kind == "CANCEL" for e in desk.events()) > cancels)
    page.wait_for_selector("[data-wp-call]:visible")
    page.click("[data-wp-hangup]")
    page.wait_for_selector("[data-wp-status]:has-text('Call ended')")


def _log_since(sandbox: AsteriskSandbox, offset: int) -> str:
    """What Asterisk logged (messages.log) after `offset` bytes."""
    with sandbox.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


#: the page's current local SDP's media direction lines
LOCAL_DIRECTIONS = """() => {
  const pc = window.switchboardWebphone.peerConnection();
  return pc.localDescription.sdp.split(/\\r?\\n/).filter((l) => /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(l));
}"""


@pytest.mark.parametrize("pbx", ["asterisk"], indirect=True)  # how Asterisk shows it
def test_hold_and_resume_from_the_keyboard_reach_asterisk(
    world: EventsWorld,
    live_server: str,
    media_browser,
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    """Hold: a re-INVITE offering a=sendonly, and Asterisk holds the call (music on hold to the
    far end, sipp); resume: sendrecv again, the music stops and RTP flows both ways anew."""
    page = _agent_page(media_browser, live_server, "1001")
    with RtpEcho() as echo:
        world.sipp.phone("1002", world.secrets["1002"], answer_after=0.3, rtp_port=echo.port)
        page.fill("#wp-number", "1002")
        page.click("[data-wp-dial-button]")
        page.wait_for_selector("[data-wp-status]:has-text('In call with 1002')")
        _rtp_both_ways(page)
        offset = asterisk_sandbox.log_path.stat().st_size
        hold = page.locator("[data-wp-hold]")
        assert hold.inner_text() == "Hold" and hold.get_attribute("aria-pressed") == "false"
        assert page.evaluate(LOCAL_DIRECTIONS) == ["a=sendrecv"]

        hold.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("[data-wp-hold][aria-pressed='true']")
        assert hold.inner_text() == "Resume"
        assert page.evaluate(LOCAL_DIRECTIONS) == ["a=sendonly"]
        page.wait_for_selector("[data-wp-status]:has-text('1002 is on hold.')")
        held = "Started music on hold, class 'default', on channel 'PJSIP/1002-"
        on_hold = wait_for(
            "Asterisk: on hold", lambda: held in (log := _log_since(asterisk_sandbox, offset)) and log
        )
        assert page.evaluate("document.activeElement.dataset.wpHold") == "", "the button keeps the focus"

        page.keyboard.press("Enter")
        page.wait_for_selector("[data-wp-hold][aria-pressed='false']")
        assert page.evaluate(LOCAL_DIRECTIONS) == ["a=sendrecv"]
        wait_for(
            "Asterisk: off hold",
            lambda: "Stopped music on hold on PJSIP/1002-" in _log_since(asterisk_sandbox, offset),
        )
        before = page.evaluate(RTP_STATS)
        _rtp_both_ways(page, at_least=before["received"] + 25)
        page.click("[data-wp-hangup]")
        page.wait_for_selector("[data-wp-status]:has-text('Call ended')")
    print("on hold, Asterisk: " + next(line for line in on_hold.splitlines() if held in line))


#: What the page fetched: the document and every resource, with bytes on the wire and decoded.
PAGE_WEIGHT = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  return entries.map((e) => ({name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize}));
}"""


@pytest.mark.parametrize("pbx", ["asterisk"], indirect=True)  # the page is the same on both
@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_the_portal_first_load_is_one_sip_script_and_compressed(
    world: EventsWorld, live_server: str, media_browser, encoding: str
) -> None:
    """The portal with a registered webphone: SIP.js is one bundled script, every static file and
    JSON answer is gzip-compressed (the page itself is not: BREACH, web/compression.py), and the
    whole first load stays under 300 kB on the wire."""
    headers = {"Accept-Encoding": encoding} if encoding == "identity" else {}
    page = _agent_page(media_browser, live_server, "1001", extra_http_headers=headers)
    # A first load: nothing from the login page's visit in the cache.
    page.context.new_cdp_session(page).send("Network.clearBrowserCache")
    page.reload()
    page.wait_for_selector('[data-wp-status][data-state="ready"]')
    entries = page.evaluate(PAGE_WEIGHT)
    assert all(e["transfer"] > 0 for e in entries), entries
    names = [e["name"] for e in entries]
    assert sum("/vendor/sip.js/sip.bundle.js?v=" in n for n in names) == 1, names
    assert not any("/vendor/sip.js/lib/" in n for n in names), names
    wire = sum(e["transfer"] for e in entries)
    bodies = sum(e["encoded"] for e in entries)
    decoded = sum(e["decoded"] for e in entries)
    print(
        f"portal first load ({encoding}): {len(entries)} requests, {wire} bytes on the wire, "
        f"bodies {bodies} bytes encoded / {decoded} decoded"
    )
    if encoding == "gzip":
        assert bodies < decoded / 2.5, (bodies, decoded)
        assert wire <= 300_000, wire
    else:
        assert bodies == decoded
