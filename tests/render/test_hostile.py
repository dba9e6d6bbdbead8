"""Hostile names — quotes, markup, expressions, newlines, separators, NUL, bidi marks, 10 kB —
reach the configuration only as data: the FreeSWITCH XML has the same shape as with a benign
name and holds the text as attribute values; the Asterisk files declare the same contexts,
extensions, priorities, pjsip objects and queue members."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from lxml import etree

from control.render import RenderOptions, renderer
from control.render.asterisk_escape import conf_text
from control.render.freeswitch_escape import DOLLAR
from control.render.incremental import TenantRender
from control.render.snapshot import Snapshot, load_snapshot
from control.text import clean_text
from tests.render import conf_parser
from tests.render.factories import NOW
from tests.render.hostile import FRAGMENTS, hostile_text, with_names

BENIGN = "Benign Name"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def render(data: Snapshot, kind: str) -> dict[str, bytes]:
    return dict(TenantRender(renderer(kind), data, NOW, RenderOptions(), incremental=False).rendered.files)


@pytest.fixture()
def snapshot(session, golden) -> Snapshot:  # type: ignore[no-untyped-def]
    return load_snapshot(session, golden.tenant_id)


def shape(element: etree._Element) -> tuple:
    """Tags, attribute names and nesting — everything but the data."""
    return (element.tag, tuple(sorted(element.attrib)), tuple(shape(child) for child in element))


def attribute_values(element: etree._Element) -> list[str]:
    return [value for node in element.iter() for value in node.attrib.values()]


@given(text=hostile_text)
@SETTINGS
def test_freeswitch_xml_holds_hostile_text_only_as_data(snapshot, text):
    expected = clean_text(text).replace("$", DOLLAR)
    assume(expected)
    benign = render(with_names(snapshot, BENIGN), "freeswitch")
    hostile = render(with_names(snapshot, text), "freeswitch")
    assert sorted(hostile) == sorted(benign)
    for path, content in hostile.items():
        tree = etree.fromstring(content)  # parses: no markup escaped its attribute
        reference = etree.fromstring(benign[path])
        assert shape(tree) == shape(reference), path
        assert content.count(b"${") == benign[path].count(b"${"), path
        assert b"$${" not in content.replace(b"$${hold_music}", b"")
        for got, want in zip(attribute_values(tree), attribute_values(reference), strict=True):
            assert got == want.replace(BENIGN, expected), path


@given(text=hostile_text)
@SETTINGS
def test_asterisk_files_declare_nothing_more(snapshot, text):
    assume(clean_text(text))
    benign = render(with_names(snapshot, BENIGN), "asterisk")
    hostile = render(with_names(snapshot, text), "asterisk")
    assert sorted(hostile) == sorted(benign)
    assert conf_parser.structure(hostile) == conf_parser.structure(benign)
    shown = conf_text(clean_text(text))
    for path, content in hostile.items():
        lines, reference = content.decode().split("\n"), benign[path].decode().split("\n")
        assert len(lines) == len(reference), path
        for got, want in zip(lines, reference, strict=True):
            assert got == want.replace(BENIGN, shown), (path, got)
        for expression in (b"${", b"$["):
            assert content.count(expression) == benign[path].count(expression), path


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_every_fragment_alone(snapshot, fragment):
    """Names that clean to nothing are dropped, never printed as markup or syntax."""
    for kind in ("freeswitch", "asterisk"):
        files = render(with_names(snapshot, fragment), kind)
        if kind == "freeswitch":
            for content in files.values():
                etree.fromstring(content)
        else:
            structure = conf_parser.structure(files)
            assert ("switchboard-internal", "2001") in structure.extensions
