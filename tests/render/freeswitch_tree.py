"""A stock-shaped FreeSWITCH configuration directory, and the pre-processor's include expansion.

`write_stock_tree` lays out the files deploy/freeswitch/install.sh touches the way the vanilla
configuration has them (freeswitch.xml including vars.xml, autoload_configs/*.xml,
dialplan/*.xml and directory/*.xml; contexts "default" and "public" with their own includes; the
external profile including external/*.xml into <gateways>; modules.conf.xml with the two
modules Switchboard needs commented out). It is written here, smaller than the real one.

`assemble(conf_dir)` expands `<X-PRE-PROCESS cmd="include">` from freeswitch.xml as FreeSWITCH's
pre-processor does: a relative pattern is relative to the directory of the file that holds it
(as the stock "default/*.xml" in dialplan/default.xml is), files in name order, the
`<include>` wrapper of an included file dropped, `cmd="set"` lines removed. The result must
parse as one XML document.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from lxml import etree

STOCK: dict[str, str] = {
    "freeswitch.xml": """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration" description="Various Configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
  <section name="directory" description="User Directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
</document>
""",
    "vars.xml": """<include>
  <X-PRE-PROCESS cmd="set" data="default_password=1234"/>
  <X-PRE-PROCESS cmd="set" data="domain=$${local_ip_v4}"/>
  <X-PRE-PROCESS cmd="set" data="hold_music=local_stream://moh"/>
</include>
""",
    "autoload_configs/modules.conf.xml": """<configuration name="modules.conf" description="Modules">
  <modules>
    <load module="mod_console"/>
    <load module="mod_logfile"/>
    <!-- <load module="mod_xml_curl"/> -->
    <load module="mod_event_socket"/>
    <load module="mod_sofia"/>
    <!--<load module="mod_callcenter"/>-->
    <load module="mod_dptools"/>
    <load module="mod_dialplan_xml"/>
  </modules>
</configuration>
""",
    "autoload_configs/event_socket.conf.xml": """<configuration name="event_socket.conf" description="Socket Client">
  <settings>
    <param name="listen-ip" value="::"/>
    <param name="listen-port" value="8021"/>
    <param name="password" value="ClueCon"/>
  </settings>
</configuration>
""",
    "autoload_configs/xml_curl.conf.xml": """<configuration name="xml_curl.conf" description="cURL XML Gateway">
  <bindings>
    <binding name="example">
      <!-- <param name="gateway-url" value="http://www.freeswitch.org/gateway.xml" bindings="dialplan"/> -->
    </binding>
  </bindings>
</configuration>
""",
    "autoload_configs/callcenter.conf.xml": """<configuration name="callcenter.conf" description="CallCenter">
  <settings>
  </settings>
  <queues>
    <queue name="support@default">
      <param name="strategy" value="longest-idle-agent"/>
    </queue>
  </queues>
</configuration>
""",
    "autoload_configs/acl.conf.xml": """<configuration name="acl.conf" description="Network Lists">
  <network-lists>
    <list name="lan" default="allow">
      <node type="deny" cidr="192.168.42.0/24"/>
    </list>
  </network-lists>
</configuration>
""",
    "autoload_configs/sofia.conf.xml": """<configuration name="sofia.conf" description="sofia Endpoint">
  <profiles>
    <X-PRE-PROCESS cmd="include" data="../sip_profiles/*.xml"/>
  </profiles>
</configuration>
""",
    "sip_profiles/external.xml": """<profile name="external">
  <gateways>
    <X-PRE-PROCESS cmd="include" data="external/*.xml"/>
  </gateways>
  <settings>
    <param name="context" value="public"/>
  </settings>
</profile>
""",
    "sip_profiles/internal.xml": """<profile name="internal">
  <domains>
    <domain name="all" alias="true" parse="false"/>
  </domains>
  <settings>
    <param name="context" value="public"/>
    <param name="challenge-realm" value="auto_from"/>
    <!--
        These are enabled to make the default config work better out of the box.
        If you need more than ONE domain you'll need to not use these options.
    -->
    <!--all inbound reg will look in this domain for the users -->
    <param name="force-register-domain" value="$${domain}"/>
    <!--force the domain in subscriptions to this value -->
    <param name="force-subscription-domain" value="$${domain}"/>
    <!--all inbound reg will stored in the db using this domain -->
    <param name="force-register-db-domain" value="$${domain}"/>
    <!--<param name="force-register-domain" value="example.com"/>-->
  </settings>
</profile>
""",
    "sip_profiles/external/example.xml": """<include>
  <!-- <gateway name="example"/> -->
</include>
""",
    "chatplan/default.xml": """<?xml version="1.0" encoding="utf-8"?>
<include>
  <context name="default">
    <extension name="demo">
      <condition field="to" expression="^(.*)$">
        <action application="reply" data="Hello, you said: ${body}"/>
      </condition>
    </extension>
  </context>
</include>
""",
    "dialplan/default.xml": """<?xml version="1.0" encoding="utf-8"?>
<include>
  <context name="default">
    <extension name="Local_Extension">
      <condition field="destination_number" expression="^(10[01][0-9])$">
        <action application="bridge" data="user/$1@${domain_name}"/>
      </condition>
    </extension>
    <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
  </context>
</include>
""",
    "dialplan/default/01_example.xml": """<include>
  <extension name="example">
    <condition field="destination_number" expression="^9196$">
      <action application="echo"/>
    </condition>
  </extension>
</include>
""",
    "dialplan/public.xml": """<include>
  <context name="public">
    <extension name="public_extensions">
      <condition field="destination_number" expression="^(10[01][0-9])$">
        <action application="transfer" data="$1 XML default"/>
      </condition>
    </extension>
    <X-PRE-PROCESS cmd="include" data="public/*.xml"/>
  </context>
</include>
""",
    "dialplan/public/00_example.xml": """<include>
</include>
""",
    "directory/default.xml": """<include>
  <domain name="$${domain}">
    <groups>
      <group name="default">
        <users>
          <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
        </users>
      </group>
    </groups>
  </domain>
</include>
""",
    "directory/default/1000.xml": """<include>
  <user id="1000">
    <params>
      <param name="password" value="$${default_password}"/>
    </params>
  </user>
</include>
""",
    "directory/default/ops.xml": """<include>
  <user id="ops">
    <params>
      <param name="password" value="an-operator-chose-this"/>
    </params>
  </user>
</include>
""",
}

_DIRECTIVE = re.compile(r'<X-PRE-PROCESS\s+cmd="(include|set)"\s+data="([^"]*)"\s*/>')


def write_stock_tree(conf_dir: Path) -> None:
    for path, text in STOCK.items():
        target = conf_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _strip_wrapper(text: str) -> str:
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    return text.replace("<include>", "").replace("</include>", "")


def expand(conf_dir: Path, text: str, base: Path, depth: int = 0) -> str:
    """Replace include directives in `text` (a file in `base`) by the files they name."""
    if depth > 20:
        raise RecursionError("include nesting deeper than 20")

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "set":
            return ""
        pattern = match.group(2)
        # Like switch_xml.c's preprocess_glob: a relative pattern is joined to the directory of
        # the file holding it (through symlinks, unresolved); files in name order.
        parts = []
        for path in _glob(base, pattern):
            parts.append(expand(conf_dir, _strip_wrapper(path.read_text()), path.parent, depth + 1))
        return "".join(parts)

    return _DIRECTIVE.sub(replace, text)


def _glob(base: Path, pattern: str) -> list[Path]:
    full = os.path.normpath(os.path.join(base, pattern))
    if "*" not in pattern:
        return [Path(full)]
    return [Path(p) for p in sorted(glob.glob(full))]


def assemble(conf_dir: Path) -> etree._Element:
    text = expand(conf_dir, (conf_dir / "freeswitch.xml").read_text(), conf_dir)
    return etree.fromstring(re.sub(r"<\?xml[^>]*\?>", "", text).encode())
