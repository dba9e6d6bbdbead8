"""Every render target of the golden tenant, byte for byte against tests/golden/.

After an intended change: `python -m tests.render.regen_golden` (or this file with
`--regen-golden`), then review `git diff tests/golden`.
"""

from __future__ import annotations

import difflib

import pytest

from control.render import PBX_KINDS
from tests.render import golden_files


@pytest.mark.parametrize("kind", PBX_KINDS)
def test_render_matches_golden_files(request, session, golden, kind):
    rendered = golden_files.render_golden(session, golden.tenant_id)[kind]
    if request.config.getoption("--regen-golden"):
        golden_files.write(kind, rendered)
    expected = golden_files.stored(kind)
    assert sorted(rendered.files) == sorted(expected), "file list differs from tests/golden/" + kind
    for path, content in rendered.files.items():
        if content != expected[path]:
            diff = "\n".join(
                difflib.unified_diff(
                    expected[path].decode().splitlines(),
                    content.decode().splitlines(),
                    f"golden/{kind}/{path}",
                    f"rendered/{path}",
                    lineterm="",
                )
            )
            pytest.fail(f"{kind}/{path} differs from its golden file:\n{diff}")
