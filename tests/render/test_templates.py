"""Every template compiles (alone and as a batch); site overrides win; nothing prints unescaped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2.exceptions import UndefinedError

from control import config
from control.render import PBX_KINDS, RenderError, render_tenant
from control.render import environment as env_module
from control.render.environment import TEMPLATES_DIR, environment, render_batch, template_names
from tests.render.factories import NOW


@pytest.fixture()
def site_dir(data_dir) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    root = config.settings().data_dir / "templates"
    env_module._environment.cache_clear()
    yield root
    shutil.rmtree(root, ignore_errors=True)
    env_module._environment.cache_clear()


@pytest.mark.parametrize("kind", PBX_KINDS)
def test_every_template_compiles(kind):
    names = template_names(kind)
    on_disk = sorted(
        p.relative_to(TEMPLATES_DIR).as_posix() for p in (TEMPLATES_DIR / kind).rglob("*") if p.is_file()
    )
    assert names == on_disk and names
    env = environment(kind)
    for name in names:
        env.get_template(name)
        env.get_template(f"batch:item:{name}")


def test_a_template_printing_the_batch_separator_is_refused(site_dir):
    target = site_dir / "asterisk" / "queues.conf"
    target.parent.mkdir(parents=True)
    target.write_text("; {{ top }}\x00\n")
    with pytest.raises(RenderError, match="separator"):
        render_batch("asterisk", "asterisk/queues.conf", "top", ["x"])


def test_undefined_variables_fail_loudly():
    with pytest.raises(UndefinedError):
        environment("freeswitch").from_string("{{ nothing.here }}").render()


def test_a_site_override_wins(session, golden, site_dir):
    target = site_dir / "asterisk" / "queues.d" / "queue.conf"
    target.parent.mkdir(parents=True)
    target.write_text("[{{ queue.name }}]\nstrategy = {{ queue.strategy }}\n; site: {{ '${EVIL}; x' }}\n")
    files = render_tenant(session, golden.tenant_id, "asterisk", now=NOW).files
    assert files["queues.d/700.conf"] == b"[queue-700]\nstrategy = leastrecent\n; site: EVIL x\n"
    # escaping still applies to what the override prints
    assert b"${" not in files["queues.d/700.conf"]
