"""Icons from the vendored Lucide set (`make install` copies them to web/static/vendor/lucide).

`icon("users")` inlines the SVG so it takes the text colour (dark mode included); it is decorative
(aria-hidden): every icon sits next to a text label, or its button carries an aria-label.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from markupsafe import Markup

ICON_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "lucide"
NAME_RE = re.compile(r"^[a-z0-9-]{1,60}$")
_BODY_RE = re.compile(r"<svg[^>]*>(.*)</svg>", re.S)


@cache
def icon(name: str) -> Markup:
    if not NAME_RE.match(name):
        raise ValueError(f"not an icon name: {name!r}")
    path = ICON_DIR / f"{name}.svg"
    if not path.is_file():
        raise FileNotFoundError(f"icon {name!r} is missing from {ICON_DIR}: run `make install`")
    match = _BODY_RE.search(path.read_text(encoding="utf-8"))
    body = " ".join(match.group(1).split()) if match else ""
    return Markup(
        '<svg class="icon" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
        f'aria-hidden="true" focusable="false">{body}</svg>'
    )
