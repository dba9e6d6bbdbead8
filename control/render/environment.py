"""The Jinja2 environments: one per PBX kind, site overrides first, nothing printed unescaped.

Templates are looked up first in `<data_dir>/templates/` (a site may override any file, keeping
its path, e.g. `templates/asterisk/queues.d/queue.conf`), then in `dialplan_templates/`.

Escaping is not optional: every `{{ expression }}` goes through the kind's `finalize` — XML
escaping (plus FreeSWITCH's `$`) for FreeSWITCH, the conservative character set for Asterisk
(see `asterisk_escape`). This is Jinja's autoescape applied by `finalize` instead of
`markupsafe.escape`, which costs a quarter of the time on the 30,000 fragments of a large
tenant; `|safe` (FreeSWITCH) and `|conf_secret` (Asterisk) are the only ways around it.

Fragments of one template are rendered in batches: the loader serves `batch:<var>:<name>` as the
template wrapped in a loop over `__items`, each output followed by NUL, a character `clean_text`
and the identifier checks never let through (and not one of the blanks `lstrip_blocks` strips).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from control.config import settings
from control.render import asterisk_escape, freeswitch_escape, names
from control.render.identifiers import RenderError

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "dialplan_templates"
PBX_KINDS = ("freeswitch", "asterisk")
SEPARATOR = "\x00"
_BATCH = "batch:"


class BatchLoader(BaseLoader):
    """Serves templates from `inner`, and `batch:<var>:<name>` as a loop over `__items`."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if not template.startswith(_BATCH):
            return self.inner.get_source(environment, template)
        var, name = template[len(_BATCH) :].split(":", 1)
        source, filename, uptodate = self.inner.get_source(environment, name)
        wrapped = "{% for " + var + " in __items %}" + source + SEPARATOR + "{% endfor %}"
        return wrapped, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def site_templates_dir() -> Path:
    return settings().data_dir / "templates"


def _names_filter(name: Callable[[str], str]) -> Callable[[str], asterisk_escape.ConfSafe]:
    """`{{ ext|ast_devices }}` and its kin: a name of control/render/names.py built from a user's
    extension (a validated identifier, the rest Switchboard's own text), used as is."""
    return lambda extension: asterisk_escape.ConfSafe(name(extension))


#: The user's devices (names.py), the one definition every Asterisk template uses.
_AST_NAME_FILTERS = {
    "ast_devices": _names_filter(names.ast_devices),
    "ast_device_states": _names_filter(names.ast_device_states),
    "ast_user_channel": _names_filter(names.ast_user_channel),
    "ast_user_state": _names_filter(names.ast_user_state),
}


def _fs_devices(extension: str, domain: str) -> Markup:
    """`{{ ext|fs_devices(domain) }}`: the directory dial-string of all of a user's devices
    (names.fs_devices); its `${...}` are Switchboard's own (FreeSWITCH must expand them), the
    extension and domain are escaped like any value."""
    return Markup(names.fs_devices(freeswitch_escape.xml_text(extension), freeswitch_escape.xml_text(domain)))


@lru_cache(maxsize=8)
def _environment(kind: str, site_dir: Path) -> Environment:
    if kind == "freeswitch":
        finalize, filters = (
            freeswitch_escape.finalize,
            {"webphone_user": names.webphone_user, "fs_devices": _fs_devices},
        )
    elif kind == "asterisk":
        finalize, filters = (
            asterisk_escape.finalize,
            {"conf_secret": asterisk_escape.conf_secret, **_AST_NAME_FILTERS},
        )
    else:
        raise RenderError(f"unknown PBX kind {kind!r}; expected one of {', '.join(PBX_KINDS)}")
    loader = ChoiceLoader([FileSystemLoader(str(site_dir)), FileSystemLoader(str(TEMPLATES_DIR))])
    env = Environment(
        loader=BatchLoader(loader),
        autoescape=False,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(filters)
    return env


def environment(kind: str) -> Environment:
    return _environment(kind, site_templates_dir())


def render_batch(kind: str, name: str, var: str, items: list, **globals_: object) -> list[str]:
    """Render template `name` once per item (bound to `var`), in one pass."""
    template: Template = environment(kind).get_template(f"{_BATCH}{var}:{name}")
    parts = template.render(__items=items, **globals_).split(SEPARATOR)
    if len(parts) != len(items) + 1 or parts[-1]:
        raise RenderError(f"template {name} printed the batch separator NUL; it must not")
    return parts[:-1]


def template_names(kind: str) -> list[str]:
    """Every template of a kind (site overrides included), for the compile test and the preview."""
    return sorted(n for n in environment(kind).list_templates() if n.startswith(f"{kind}/"))
