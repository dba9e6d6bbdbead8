"""Deploy verification against FreeSWITCH's real `xml_locate` answers.

tests/fixtures/freeswitch-xml-locate/{default,public}.xml are what FreeSWITCH 1.11.2 answered to
`xml_locate dialplan context name default|public` after a `reloadxml` of the golden render
(tests/golden/freeswitch, flattened as a deploy writes it): its own indentation, blank lines,
`<action ...></action>` for `<action .../>`, the stock extensions below ours. A deploy compares
structure, so that answer verifies; a changed action or a removed extension still live does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from worker import freeswitch_apply
from worker.freeswitch_apply import DIALPLAN, VerifyError, parse, verify

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "freeswitch"
LOCATED = ROOT / "tests" / "fixtures" / "freeswitch-xml-locate"


class LocatingEsl:
    """Answers `xml_locate dialplan context name <ctx>` with a captured (or edited) answer."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.commands: list[str] = []

    def api(self, command: str, timeout: float | None = None) -> str:
        self.commands.append(command)
        context = command.removeprefix("xml_locate dialplan context name ")
        return self.answers[context]


def _golden(without: str | None = None) -> dict[str, bytes]:
    return {
        path.relative_to(GOLDEN).as_posix(): path.read_bytes()
        for path in sorted(GOLDEN.rglob("*.xml"))
        if path.relative_to(GOLDEN).as_posix() != without
    }


def _captured() -> dict[str, str]:
    return {context: (LOCATED / f"{context}.xml").read_text() for context in ("default", "public")}


def test_the_captured_answer_is_reindented_not_the_deployed_bytes() -> None:
    # The premise: compared as bytes (c14n keeps whitespace), no extension would ever match.
    rendered = etree.fromstring((GOLDEN / "dialplan" / "default" / "group-600.xml").read_bytes())
    live = etree.fromstring(_captured()["default"].encode())
    ours, theirs = rendered.find("extension"), live.find("extension[@name='switchboard-group-600']")
    assert etree.tostring(ours, method="c14n") != etree.tostring(theirs, method="c14n")
    assert '<action application="set" data="sb_ring_group=600"></action>\n\n' in _captured()["default"]


def test_a_first_deploy_verifies_against_freeswitchs_own_layout() -> None:
    new = parse(_golden())
    esl = LocatingEsl(_captured())
    checked = verify(esl, None, new, {DIALPLAN})
    assert checked == len(new.extensions) >= 10
    assert sorted(esl.commands) == [
        "xml_locate dialplan context name default",
        "xml_locate dialplan context name public",
    ]


def test_an_action_freeswitch_does_not_have_fails_verification() -> None:
    answers = _captured()
    assert answers["default"].count('data="sb_ring_group=600"') == 1
    answers["default"] = answers["default"].replace('data="sb_ring_group=600"', 'data="sb_ring_group=699"')
    with pytest.raises(VerifyError, match="dialplan default/switchboard-group-600 is not the deployed one"):
        verify(LocatingEsl(answers), None, parse(_golden()), {DIALPLAN})


def test_an_extension_removed_but_still_live_fails_verification() -> None:
    old = parse(_golden())
    new = parse(_golden(without="dialplan/default/group-601.xml"))
    with pytest.raises(
        VerifyError, match="dialplan default/switchboard-group-601 was removed but is still live"
    ):
        verify(LocatingEsl(_captured()), old, new, {DIALPLAN})


@pytest.mark.parametrize(
    ("deployed", "live", "same"),
    [
        ('<a x="1" y="2"><b/></a>', '<a y="2" x="1">\n    <b></b>\n\n</a>', True),
        ("<a><b>text</b></a>", "<a>\n  <b>  text\n</b>\n</a>", True),
        ("<a><!-- rendered note --><b/></a>", "<a><b/></a>", True),
        ('<a><b data="x&amp;y"/></a>', "<a><b data='x&amp;y'></b></a>", True),
        ('<a x="1"/>', '<a x="2"/>', False),
        ("<a><b/><c/></a>", "<a><c/><b/></a>", False),
        ("<a><b/></a>", "<a><b/><b/></a>", False),
        ("<a><b>one</b></a>", "<a><b>two</b></a>", False),
    ],
)
def test_objects_compare_by_structure_not_formatting(deployed: str, live: str, same: bool) -> None:
    def canonical(text: str) -> bytes:
        parser = etree.XMLParser(remove_comments=True)
        return freeswitch_apply._canonical(etree.fromstring(text, parser))

    assert (canonical(deployed) == canonical(live)) is same


def test_an_unchanged_extension_is_not_looked_up_again() -> None:
    config = parse(_golden())
    esl = LocatingEsl({})
    assert verify(esl, config, parse(_golden()), {DIALPLAN}) == 0
    assert esl.commands == []
