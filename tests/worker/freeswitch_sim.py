"""A FreeSWITCH stand-in behind tests/fakes/esl_server.py, for the deploy path (FreeSWITCH itself is
not installable here).

It answers the `api` commands a deploy sends the way mod_commands, mod_callcenter and mod_sofia
do, from state that only changes when it would on a real PBX:

- `reloadxml` reads the *live* version from disk, expanding `X-PRE-PROCESS include` globs the way
  the XML pre-processor does (relative to the configuration directory), and refuses XML that
  does not parse. Directory, dialplan and gateways answer from what the last reloadxml loaded.
- `xml_locate` answers in FreeSWITCH's own layout (switch_xml_toxml: its indentation, a blank
  line after each element, `<x></x>` for an empty one), never the bytes of the deployed file, as
  tests/fixtures/freeswitch-xml-locate/ (captured from FreeSWITCH 1.11.2) shows.
- mod_callcenter keeps queues, agents and tiers in its own table: a reloadxml alone changes
  nothing there; `callcenter_config queue load|reload|unload`, `agent reload|del` and
  `tier reload|del` copy one object from the loaded XML, as the module does.

Reply texts come from the captures in tests/fixtures/freeswitch-wire/ where they exist
(`+OK` of callcenter_config, the agent table of `queue list agents`); the others follow the
FreeSWITCH sources' format strings (`+OK [Success]`, `true`/`false`, `can't find anything`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path

from lxml import etree

from tests.fakes.esl_server import api_response

ROOTS = ("directory.xml", "dialplan/default.xml", "dialplan/public.xml", "callcenter.conf.xml", "gateway.xml")
AGENT_HEADER = (
    "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|"
    "busy_delay_time|no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|"
    "last_status_change|no_answer_count|calls_answered|talk_time|ready_time|external_calls_count"
)


class FreeswitchSim(Mapping[str, bytes]):
    def __init__(self, conf_dir: Path) -> None:
        self.conf_dir = conf_dir
        self.commands: list[str] = []
        self.down = False
        # what the last reloadxml loaded
        self.users: dict[str, dict[str, str]] = {}
        self.domain: str | None = None
        self.contexts: dict[str, list[etree._Element]] = {}
        self.xml_queues: dict[str, etree._Element] = {}
        self.xml_agents: dict[str, etree._Element] = {}
        self.xml_tiers: dict[tuple[str, str], etree._Element] = {}
        self.gateways: set[str] = set()
        self.profile_gateways: set[str] = set()
        # mod_callcenter's own tables
        self.queues: set[str] = set()
        self.agents: dict[str, str] = {}
        self.tiers: set[tuple[str, str]] = set()

    # --- Mapping used by FakeEslServer: api_replies.get("api <command>") ----------------------

    def __getitem__(self, key: str) -> bytes:
        reply = self.get(key)
        if reply is None:
            raise KeyError(key)
        return reply

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        command = key.removeprefix("api ")
        self.commands.append(command)
        return api_response(self.answer(command).encode())

    # --- commands ------------------------------------------------------------------------------

    def answer(self, command: str) -> str:
        words = command.split()
        if command == "reloadxml":
            return self.reloadxml()
        if words[:2] == ["user_exists", "id"] and len(words) == 4:
            return "true" if words[3] == self.domain and words[2] in self.users else "false"
        if words[0] == "user_data" and len(words) == 4:
            user, _, domain = words[1].partition("@")
            if domain != self.domain or user not in self.users:
                return ""
            return self.users[user].get(f"{words[2]}:{words[3]}", "")
        if words[:4] == ["xml_locate", "dialplan", "context", "name"] and len(words) == 5:
            return self.locate_context(words[4])
        if words[0] == "callcenter_config":
            return self.callcenter(words[1:])
        if words[:2] == ["sofia", "profile"] and words[3:4] == ["rescan"]:
            self.profile_gateways |= self.gateways
            return "+OK scan complete\n"
        if words[:2] == ["sofia", "profile"] and words[3:4] == ["killgw"]:
            if words[4] not in self.profile_gateways:
                return "-ERR no such gateway.\n"
            self.profile_gateways.discard(words[4])
            return "+OK gateway marked for deletion.\n"
        if words[:3] == ["sofia", "status", "gateway"]:
            return (
                f"Name {words[3]}\nState REGED\n"
                if words[3] in self.profile_gateways
                else "Invalid Gateway!\n"
            )
        return f"-ERR {words[0]} Command not found!\n"

    def reloadxml(self) -> str:
        live = self.conf_dir / "switchboard" / "live"
        documents: dict[str, etree._Element] = {}
        try:
            for root in ROOTS:
                path = live / root
                if path.exists():
                    documents[root] = self._expand(etree.fromstring(path.read_bytes()), path.parent)
        except etree.XMLSyntaxError as exc:
            return f"-ERR [{exc}]\n"
        directory = documents.get("directory.xml")
        domain = directory.find("domain") if directory is not None else None
        self.domain = domain.get("name") if domain is not None else None
        self.users = {}
        for user in domain.iter("user") if domain is not None else ():
            options = {f"param:{p.get('name')}": p.get("value", "") for p in user.iter("param")}
            self.users[user.get("id", "")] = options
        self.contexts = {
            context: list(documents[root].iter("extension")) if root in documents else []
            for context, root in (("default", "dialplan/default.xml"), ("public", "dialplan/public.xml"))
        }
        callcenter = documents.get("callcenter.conf.xml")
        self.xml_queues = (
            {q.get("name", ""): q for q in callcenter.iter("queue")} if callcenter is not None else {}
        )
        self.xml_agents = (
            {a.get("name", ""): a for a in callcenter.iter("agent")} if callcenter is not None else {}
        )
        self.xml_tiers = (
            {(t.get("queue", ""), t.get("agent", "")): t for t in callcenter.iter("tier")}
            if callcenter is not None
            else {}
        )
        gateway = documents.get("gateway.xml")
        self.gateways = {g.get("name", "") for g in gateway.iter("gateway")} if gateway is not None else set()
        return "+OK [Success]\n"

    def _expand(self, element: etree._Element, folder: Path) -> etree._Element:
        """Replace each X-PRE-PROCESS include with the children of the files it names (a relative
        include is resolved against the folder of the file that holds it)."""
        for directive in list(element.iter("X-PRE-PROCESS")):
            pattern = directive.get("data", "")
            parent = directive.getparent()
            index = parent.index(directive)
            parent.remove(directive)
            for path in sorted(folder.glob(pattern)):
                included = self._expand(etree.fromstring(path.read_bytes()), path.parent)
                for child in list(included):
                    parent.insert(index, child)
                    index += 1
        return element

    def locate_context(self, name: str) -> str:
        extensions = self.contexts.get(name)
        if extensions is None:
            return "can't find anything\n"
        context = etree.Element("context", name=name)
        context.extend(copy.deepcopy(ext) for ext in extensions)
        return reindented(context) + "\n"

    def callcenter(self, args: list[str]) -> str:
        target, action, rest = (args + ["", ""])[0], (args + ["", ""])[1], args[2:]
        if target == "queue" and action in ("load", "reload") and rest:
            if rest[0] not in self.xml_queues:
                return "-ERR Invalid Queue not found!\n"
            self.queues.add(rest[0])
            return "+OK\n"
        if target == "queue" and action == "unload" and rest:
            self.queues.discard(rest[0])
            return "+OK\n"
        if target == "queue" and action == "list" and rest[:1] == ["agents"] and len(rest) == 2:
            rows = [
                f"{agent}|single_box||callback|{self.agents[agent]}|Available|Waiting|3|5|10|60|0|0|0|0|0|0|0|0|0|0"
                for queue, agent in sorted(self.tiers)
                if queue == rest[1] and agent in self.agents
            ]
            return "\n".join([AGENT_HEADER, *rows, "+OK"]) + "\n"
        if target == "agent" and action == "reload" and rest:
            agent = self.xml_agents.get(rest[0])
            if agent is None:
                return "-ERR Invalid Agent!\n"
            self.agents[rest[0]] = agent.get("contact", "")
            return "+OK\n"
        if target == "agent" and action == "del" and rest:
            if self.agents.pop(rest[0], None) is None:
                return "-ERR Invalid Agent!\n"
            return "+OK\n"
        if target == "tier" and action == "reload" and len(rest) == 2:
            if (rest[0], rest[1]) not in self.xml_tiers:
                return "-ERR Invalid Tier!\n"
            self.tiers.add((rest[0], rest[1]))
            return "+OK\n"
        if target == "tier" and action == "del" and len(rest) == 2:
            self.tiers.discard((rest[0], rest[1]))
            return "+OK\n"
        return "-ERR Unknown Command!\n"


def reindented(element: etree._Element, depth: int = 0) -> str:
    """`element` laid out as FreeSWITCH's switch_xml_toxml lays out an xml_locate answer."""
    pad = " " * (4 * depth)
    attributes = "".join(f' {name}="{_attr(value)}"' for name, value in element.attrib.items())
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return f"{pad}<{element.tag}{attributes}>{_attr(element.text or '')}</{element.tag}>\n"
    inner = "".join("\n" + reindented(child, depth + 1) for child in children)
    return f"{pad}<{element.tag}{attributes}>\n  {pad}{inner}\n{pad}</{element.tag}>\n"


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
