"""mod_xml_curl documents assembled from a FreeSWITCH render: the same fragments the static
deploy writes, with their `<X-PRE-PROCESS cmd="include">` resolved in memory.

A static version is a tree of files that include each other (directory.xml includes
directory/*.xml, dialplan/default.xml includes default/*.xml); FreeSWITCH resolves an include
against the directory of the file that holds it and keeps the children of an `<include>` root.
A dynamic answer is one document, so the includes are inlined here the same way — there is no
second template set. What mod_xml_curl reads:

    <document type="freeswitch/xml">
      <section name="directory"><domain name="D"> params, variables, groups/group/users/user
      <section name="dialplan"><context name="C"> extension/condition/action

Values were escaped by the FreeSWITCH environment when the fragments were rendered
(control/render/freeswitch_escape.py); lxml parses and re-serialises them, so the escaping holds.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import NamedTuple

from lxml import etree

from control.render.identifiers import RenderError

NOT_FOUND = (
    b'<document type="freeswitch/xml"><section name="result">'
    b'<result status="not found"/></section></document>'
)
DIRECTORY_FILE = "directory.xml"
DIALPLAN_FILES = {"default": "dialplan/default.xml", "public": "dialplan/public.xml"}
_DESTINATION_FIELDS = ("destination_number", "${destination_number}")
_LITERAL = re.compile(r"\^([0-9A-Za-z_-]+)\$")
_LITERALS_PLUS = re.compile(r"\^\\\+\?\(([0-9]+(?:\|[0-9]+)*)\)\$")  # a line's numbers


def _parser() -> etree.XMLParser:
    """A parser per build: lxml parsers are not shared between threads."""
    return etree.XMLParser(
        remove_blank_text=True, remove_comments=True, resolve_entities=False, no_network=True
    )


def _parse(files: Mapping[str, bytes], path: str, parser: etree.XMLParser) -> etree._Element:
    try:
        return etree.fromstring(files[path], parser)
    except etree.XMLSyntaxError as exc:
        raise RenderError(f"{path} is not well-formed XML: {exc}") from exc


def _included(files: Mapping[str, bytes], path: str, data: str) -> list[str]:
    """The rendered files an include in `path` names, in glob (sorted) order."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), data))
    folder, pattern = posixpath.split(target)
    return sorted(
        p for p in files if posixpath.dirname(p) == folder and fnmatchcase(posixpath.basename(p), pattern)
    )


def inline(
    files: Mapping[str, bytes],
    path: str,
    keep: Callable[[str], bool] = lambda _path: True,
    parser: etree.XMLParser | None = None,
) -> etree._Element:
    """The root of `path` with every include replaced by what it includes (only the files
    `keep` accepts), recursively: what FreeSWITCH's pre-processor would build."""
    parser = parser if parser is not None else _parser()
    root = _parse(files, path, parser)
    for node in root.iter("X-PRE-PROCESS"):
        if node.get("cmd") != "include":
            raise RenderError(f"{path}: only include pre-processing can be answered over mod_xml_curl")
    for node in list(root.iter("X-PRE-PROCESS")):
        parent = node.getparent()
        index = parent.index(node)
        for included in _included(files, path, node.get("data") or ""):
            if not keep(included):
                continue
            child = inline(files, included, keep, parser)
            for element in list(child) if child.tag == "include" else [child]:
                parent.insert(index, element)
                index += 1
        parent.remove(node)
    return root


def _document(section: str, content: etree._Element) -> bytes:
    document = etree.Element("document", type="freeswitch/xml")
    etree.SubElement(document, "section", name=section).append(content)
    return etree.tostring(document, encoding="UTF-8")


def user_file(extension: str) -> str:
    return f"directory/{extension}.xml"


def directory_document(files: Mapping[str, bytes], extension: str) -> bytes | None:
    """The tenant's domain holding the one user, or None when the render has no such user
    (unknown, suspended, without SIP credentials)."""
    wanted = user_file(extension)
    if wanted not in files:
        return None
    root = inline(files, DIRECTORY_FILE, lambda p: p == wanted)
    domain = root.find("domain")
    if domain is None:
        raise RenderError(f"{DIRECTORY_FILE} has no <domain>")
    return _document("directory", domain)


class Destinations(NamedTuple):
    """Which destination numbers some extension of a context takes (its destination_number
    conditions). An extension without one, or with an expression Python cannot read, takes any."""

    exact: frozenset[str]
    patterns: tuple[tuple[re.Pattern[str], ...], ...]
    anything: bool

    def match(self, number: str) -> bool:
        if self.anything or number in self.exact:
            return True
        return any(all(p.search(number) for p in conditions) for conditions in self.patterns)


class DialplanContext(NamedTuple):
    document: bytes
    destinations: Destinations


def _destinations(extensions: list[etree._Element]) -> Destinations:
    exact: set[str] = set()
    patterns: list[tuple[re.Pattern[str], ...]] = []
    anything = False
    for extension in extensions:
        expressions = [
            c.get("expression") or ""
            for c in extension.iter("condition")
            if c.get("field") in _DESTINATION_FIELDS
        ]
        if not expressions:
            anything = True
        elif len(expressions) == 1 and (literal := _LITERAL.fullmatch(expressions[0])):
            exact.add(literal.group(1))
        elif len(expressions) == 1 and (numbers := _LITERALS_PLUS.fullmatch(expressions[0])):
            for number in numbers.group(1).split("|"):
                exact.update((number, "+" + number))
        else:
            try:
                patterns.append(tuple(re.compile(e) for e in expressions))
            except re.error:
                anything = True
    return Destinations(frozenset(exact), tuple(patterns), anything)


def dialplan_context(files: Mapping[str, bytes], context: str) -> DialplanContext | None:
    """The context as the static render has it (what is included at the top of the stock
    context), or None when the render has nothing for it."""
    path = DIALPLAN_FILES.get(context)
    if path is None or path not in files:
        return None
    root = inline(files, path)
    extensions = [e for e in root if e.tag == "extension"]
    if not extensions:
        return None
    element = etree.Element("context", name=context)
    element.extend(extensions)
    return DialplanContext(_document("dialplan", element), _destinations(extensions))
