"""The portal in French: the catalog under web/translations is complete and compiled, every portal
page (and the layout around it) renders in French with no English message left, the language is
the user's choice in Settings, else the browser's Accept-Language."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations

from control import db
from control.db import utcnow
from control.models import Contact, User
from control.services import accounts, avatars, users
from tests.conftest import ROOT
from tests.web.call_data import add_calls
from web.i18n import FORM_MESSAGES

TRANSLATIONS = ROOT / "web" / "translations"
PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.mo"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def used_messages() -> set[str]:
    """Every message the portal's code and templates mark (what `make translations` extracts)."""
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalog() -> dict[str, list[str]]:
    with PO.open("rb") as f:
        po = read_po(f)
    return {
        (m.id[0] if isinstance(m.id, tuple) else m.id): (
            list(m.string) if isinstance(m.string, tuple) else [m.string]
        )
        for m in po
        if m.id
    }


def test_every_marked_message_has_a_french_translation_and_the_mo_is_compiled() -> None:
    french = catalog()
    used = used_messages()
    assert len(used) > 150
    missing = sorted(m for m in used if not all(french.get(m, [""])))
    assert not missing, f"untranslated (run `make translations`, then translate): {missing}"
    compiled = Translations(MO.open("rb"))
    stale = [m for m, strings in french.items() if compiled.gettext(m) not in strings]
    assert not stale, f"messages.mo is older than messages.po (run `make translations`): {stale[:5]}"


def test_form_messages_are_the_ones_the_services_say(demo) -> None:  # type: ignore[no-untyped-def]
    errors: dict[str, list[str]] = {}
    users.check_password(errors, "short")
    said = [
        *errors["password"],
        avatars.NOT_AN_IMAGE,
        avatars.TOO_BIG,
        avatars.TOO_MANY_PIXELS,
        avatars.POLYGLOT,
    ]
    with db.unit_of_work() as s:
        alice = s.get(User, demo["agent_id"])
        with pytest.raises(accounts.Invalid) as wrong:
            accounts.change_own_password(s, alice, "not-the-password", "a-new-long-password")
    said += wrong.value.errors["current_password"]
    assert set(said) <= set(FORM_MESSAGES)


class _Words(HTMLParser):
    """What a person reads or hears: text, and the labels, titles, placeholders and prompts."""

    ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "data-confirm", "data-label")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        self.parts += [value for name, value in attrs if name in self.ATTRIBUTES and value]
        if tag == "div":
            self.parts += [value for name, value in attrs if name.startswith("data-notif") and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.parts.append(data.strip())


def words(page: str) -> str:
    parser = _Words()
    parser.feed(page)
    return "\n".join(parser.parts)


def english_left(text: str, french: dict[str, list[str]]) -> list[str]:
    """Messages whose English words show (the parts between placeholders, when long enough)."""
    left = []
    for msgid, strings in french.items():
        if msgid in strings:  # the same word in both languages (Contacts, Menu, Type...)
            continue
        pieces = [p.strip(" .,:;?") for p in re.split(r"%\(\w+\)[sd]", msgid)]
        pieces = [p for p in pieces if len(p) >= (3 if len(pieces) == 1 else 12)]
        for piece in pieces:
            if re.search(rf"(?<![\w’']){re.escape(piece)}(?![\w’'])", text):
                left.append(msgid)
    return left


@pytest.fixture()
def french_alice(app, demo):  # type: ignore[no-untyped-def]
    add_calls(demo["tenant_id"], 3, start=utcnow() - timedelta(hours=1))
    with db.unit_of_work() as s:
        alice = s.get(User, demo["agent_id"])
        assert alice is not None
        alice.language = "fr"
        accounts.create_token(s, alice, "mon script")
        mum = s.query(Contact).filter_by(owner_user_id=alice.id).one().id
    client = app.test_client()
    assert (
        client.post("/login", data={"email": demo["agent_email"], "password": demo["password"]}).status_code
        == 302
    )
    return client, mum


def test_every_portal_page_renders_in_french(french_alice) -> None:  # type: ignore[no-untyped-def]
    client, mum = french_alice
    french = catalog()
    pages = {
        path: client.get(path)
        for path in [
            "/portal/phonebook", "/portal/phonebook/new", f"/portal/phonebook/{mum}", "/portal/history/",
            "/portal/contacts/", "/portal/contacts/team", "/portal/queues/", "/portal/settings/",
        ]
    }  # fmt: skip
    # and a form with its messages: a bad email, a bad avatar
    pages["settings (errors)"] = client.post("/portal/settings/email", data={"email": "not an address"})
    problems = {}
    for name, response in pages.items():
        page = response.get_data(as_text=True)
        assert '<html lang="fr"' in page, name
        left = english_left(words(page), french)
        if left:
            problems[name] = left
    assert not problems, problems
    phonebook = pages["/portal/phonebook"].get_data(as_text=True)
    assert "<h1>Répertoire</h1>" in phonebook and "<span>En ligne</span>" in phonebook
    assert "Saisissez une adresse e-mail valide." in pages["settings (errors)"].get_data(as_text=True)
    assert "Corrigez le champ indiqué ci-dessous." in pages["settings (errors)"].get_data(as_text=True)
    flash = client.post("/portal/status/", data={"dnd": "on"}, follow_redirects=True).get_data(as_text=True)
    assert "Ne pas déranger : aucun appel ne vous parvient." in flash


def test_the_checker_finds_english(french_alice) -> None:  # type: ignore[no-untyped-def]
    """The check above can fail: an English page is full of messages it names."""
    client, _mum = french_alice
    with db.unit_of_work() as s:
        s.query(User).filter_by(language="fr").update({"language": "en"})
    left = english_left(words(client.get("/portal/settings/").get_data(as_text=True)), catalog())
    assert {"Settings", "Change password", "Personal API tokens", "Online"} <= set(left)


def test_language_from_settings_else_the_browser(app, demo, agent_client) -> None:  # type: ignore[no-untyped-def]
    french_browser = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    # alice's language is English (the demo's): it wins over the browser's
    assert "<h1>Phonebook</h1>" in agent_client.get("/portal/phonebook", headers=french_browser).get_data(
        as_text=True
    )
    # "the browser's language"
    assert agent_client.post("/portal/settings/language", data={"language": ""}).status_code == 302
    page = agent_client.get("/portal/phonebook", headers=french_browser).get_data(as_text=True)
    assert "<h1>Répertoire</h1>" in page and '<html lang="fr"' in page
    assert "<h1>Phonebook</h1>" in agent_client.get("/portal/phonebook").get_data(as_text=True)
    # French, chosen: the flash already says it in French
    saved = agent_client.post("/portal/settings/language", data={"language": "fr"}, follow_redirects=True)
    assert "Langue enregistrée." in saved.get_data(as_text=True)
    assert "<h1>Répertoire</h1>" in agent_client.get("/portal/phonebook").get_data(as_text=True)
    refused = agent_client.post("/portal/settings/language", data={"language": "tlh"})
    assert refused.status_code == 400 and 'id="language-error"' in refused.get_data(as_text=True)
    # the login page follows the browser
    assert '<html lang="fr"' in app.test_client().get("/login", headers=french_browser).get_data(as_text=True)


def test_me_api_language(app, demo) -> None:  # type: ignore[no-untyped-def]
    from tests.api.conftest import ApiClient, make_token

    api = ApiClient(app.test_client(), make_token(demo["agent_email"]))
    assert api.patch("/api/v1/me", json={"language": "fr"}).get_json()["language"] == "fr"
    bad = api.patch("/api/v1/me", json={"language": "de"})
    assert bad.status_code == 422 and "language" in bad.get_json()["errors"]


def test_the_catalog_files_are_where_the_package_data_takes_them() -> None:
    assert MO.is_file() and Path(MO).stat().st_size > 5000
    assert '"translations/**/*"' in (ROOT / "pyproject.toml").read_text()
