"""The escape filters and identifier checks, one behaviour at a time."""

from __future__ import annotations

import pytest
from jinja2 import Environment, StrictUndefined
from jinja2.exceptions import UndefinedError
from markupsafe import Markup

from control import validators as rules
from control.render import asterisk_escape, freeswitch_escape, identifiers
from control.render.identifiers import RenderError
from control.text import clean_text


class TestCleanText:
    def test_one_line_single_blanks(self):
        assert clean_text("  Ann \n\tSmith\r\n  ") == "Ann Smith"

    def test_controls_become_blanks_and_format_characters_vanish(self):
        assert clean_text("a\x00b\x1fc\u2028d\u202ee\u200ff") == "a b c def"

    def test_lone_surrogates_and_xml_noncharacters_vanish(self):
        assert clean_text("x\ud800y\ufffez\uffff") == "xyz"

    def test_nfc(self):
        assert clean_text("e\u0301") == "\u00e9"

    def test_truncated_to_the_limit(self):
        assert clean_text("x" * 10_000) == "x" * 120
        assert clean_text("ab cd", max_len=3) == "ab"

    def test_empty(self):
        assert clean_text(None) == ""
        assert clean_text("\n\t ") == ""


class TestFreeswitchEscape:
    def test_xml_specials(self):
        assert freeswitch_escape.xml_text("<a href=\"x\">'&'</a>") == (
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
        )

    def test_dollar_can_never_form_an_expression(self):
        for text in ("${system(rm -rf /)}", "$${domain}", "\\${x}", "$[1+1]"):
            out = freeswitch_escape.xml_text(text)
            assert "$" not in out
            assert freeswitch_escape.DOLLAR in out

    def test_characters_xml_forbids_are_removed(self):
        assert freeswitch_escape.xml_text("a\x00b\x01c\ufffed") == "abcd"

    def test_identifiers_pass_unchanged(self):
        for value in ("1001", "user/1001@acme.example", "[leg_timeout=20]user/1001@a.b,x|y"):
            assert freeswitch_escape.finalize(value) == value

    def test_finalize_numbers_markup_and_refusals(self):
        assert freeswitch_escape.finalize(42) == "42"
        assert freeswitch_escape.finalize(Markup("<b/>")) == "<b/>"
        with pytest.raises(RenderError):
            freeswitch_escape.finalize(None)
        with pytest.raises(RenderError):
            freeswitch_escape.finalize(True)

    def test_finalize_keeps_strict_undefined_strict(self):
        env = Environment(finalize=freeswitch_escape.finalize, undefined=StrictUndefined)
        with pytest.raises(UndefinedError):
            env.from_string("{{ missing }}").render()


class TestAsteriskEscape:
    def test_keeps_letters_digits_and_harmless_punctuation(self):
        assert asterisk_escape.conf_text("Zoë O'Brien-Smith +1 @home: #2/3 = 50% ~ok? *!") == (
            "Zoë O'Brien-Smith +1 @home: #2/3 = 50% ~ok? *!"
        )

    @pytest.mark.parametrize("char", list(';[],()|&${}"\\<>\n\r\t\x00'))
    def test_every_dangerous_character_becomes_a_blank(self, char):
        assert asterisk_escape.conf_text(f"a{char}b") == "a b"

    def test_expressions_cannot_survive(self):
        out = asterisk_escape.conf_text("${SHELL(rm -rf /)} $[1+1] ;comment [ctx]")
        assert out == "SHELL rm -rf / 1+1 comment ctx"

    def test_conf_secret_escapes_semicolon_and_checks(self):
        assert asterisk_escape.conf_secret("a;b\\;c") == "a\\;b\\\\;c"
        assert isinstance(asterisk_escape.conf_secret("abc"), asterisk_escape.ConfSafe)
        for bad in ("has space", "new\nline", "dollar$", "", "é"):
            with pytest.raises(RenderError):
                asterisk_escape.conf_secret(bad)

    def test_finalize(self):
        assert asterisk_escape.finalize("Local/g600m1@switchboard-legs") == "Local/g600m1@switchboard-legs"
        assert asterisk_escape.finalize("a&b") == "a b"
        assert asterisk_escape.finalize(asterisk_escape.ConfSafe("PJSIP/1&PJSIP/2")) == "PJSIP/1&PJSIP/2"
        assert asterisk_escape.finalize(7) == "7"
        with pytest.raises(RenderError):
            asterisk_escape.finalize(None)


class TestIdentifiers:
    def test_valid_values_come_back(self):
        assert identifiers.extension("1001", "extension") == "1001"
        assert identifiers.e164("+12025550101", "number") == "+12025550101"
        assert identifiers.host("sip.example.com", "host") == "sip.example.com"
        for uri in ("sip:desk@partner.example.com:5070", "sips:a.b-c_d!~*'+@10.0.0.1:65535", "sip:x@h"):
            assert identifiers.sip_uri(uri, "uri") == uri
        assert identifiers.sip_uri(f"sip:{'u' * 64}@example.com", "uri")
        assert identifiers.secret("a;b#c!", "secret") == "a;b#c!"

    @pytest.mark.parametrize(
        ("check", "value"),
        [
            (identifiers.extension, "10 01"),
            (identifiers.extension, "1001\n[evil]"),
            (identifiers.extension, "1001\n"),
            (identifiers.extension, "1001;"),
            (identifiers.extension, ""),
            (identifiers.extension, None),
            (identifiers.extension, "1" * 9),
            (identifiers.e164, "12025550101"),
            (identifiers.e164, "+1202555010a"),
            (identifiers.e164, "+1202555010\n"),
            (identifiers.host, "evil.com;x"),
            (identifiers.host, "-bad.example"),
            (identifiers.host, "bad-.example"),
            (identifiers.host, "bad..example"),
            (identifiers.host, ".bad.example"),
            (identifiers.host, "bad.example."),
            (identifiers.host, "a" * 64 + ".example"),
            (identifiers.sip_uri, "sip:a@b;transport=tcp"),
            (identifiers.sip_uri, "sip:a&b@c"),
            (identifiers.sip_uri, "sip:a@-host.example"),
            (identifiers.sip_uri, "sip:a@host-.example"),
            (identifiers.sip_uri, "sip:a@.host.example"),
            (identifiers.sip_uri, "sip:a@host.example."),
            (identifiers.sip_uri, "sip:a@host..example"),
            (identifiers.sip_uri, f"sip:{'u' * 65}@example.com"),
            (identifiers.sip_uri, "sip:a@example.com:0"),
            (identifiers.sip_uri, "sip:a@example.com:65536"),
            (identifiers.sip_uri, "sip:a@example.com:99999"),
            (identifiers.sip_uri, "sip:a@example.com\n"),
            (identifiers.trunk_user, "user name"),
            (identifiers.include_root, "../etc"),
            (identifiers.include_root, "/abs"),
        ],
    )
    def test_anything_else_stops_the_render(self, check, value):
        with pytest.raises(RenderError, match="cannot be rendered"):
            check(value, "field") if check is not identifiers.include_root else check(value)

    def test_ports_and_seconds(self):
        assert identifiers.number(5060, "port", rules.PORT) == 5060
        for bad in (0, 65536, True, "5060"):
            with pytest.raises(RenderError):
                identifiers.number(bad, "port", rules.PORT)
        with pytest.raises(RenderError):
            identifiers.number(-1, "timeout", rules.QUEUE_WRAP_UP)
        with pytest.raises(RenderError):
            identifiers.number(True, "timeout", rules.MEMBER_TIMEOUT)


def test_render_options_are_checked():
    from control.render import RenderOptions

    assert RenderOptions(sip_bind="10.0.0.2:5070").sip_bind == "10.0.0.2:5070"
    for bad in (
        {"sip_bind": "0.0.0.0:5060\n[evil]"},
        {"sip_bind": "[::]:5060"},
        {"include_root": "../x"},
        {"max_contacts": 0},
    ):
        with pytest.raises(RenderError):
            RenderOptions(**bad)
