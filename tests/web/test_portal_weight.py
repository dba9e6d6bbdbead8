"""The portal's first load stays light: each portal page's HTML and everything it loads (styles,
scripts, fonts, images; all served by the app) at most 300 kB compressed (gzip)."""

from __future__ import annotations

import gzip
import re

from tests.web.test_portal_avatar import png, upload

LIMIT = 300 * 1024
PAGES = (
    "/portal/phonebook", "/portal/history/", "/portal/contacts/", "/portal/contacts/team",
    "/portal/queues/", "/portal/settings/",
)  # fmt: skip
#: what a page loads, the webphone's SIP.js bundle (imported by webphone.js) included
ASSETS = re.compile(r'<(?:link[^>]+href|script[^>]+src|img[^>]+src)="([^"]+)"|data-webphone-sip="([^"]+)"')


def compressed(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def test_each_portal_page_loads_in_at_most_300_kb_compressed(agent_client) -> None:  # type: ignore[no-untyped-def]
    assert upload(agent_client, png((900, 900))).status_code == 302  # the header shows an avatar
    weights = {}
    for path in PAGES:
        response = agent_client.get(path)
        assert response.status_code == 200
        html = response.data
        sizes = {path: compressed(html)}
        for asset in sorted({a or b for a, b in ASSETS.findall(html.decode())}):
            assert asset.startswith("/"), f"{path} loads {asset} from elsewhere"  # nothing from a CDN
            loaded = agent_client.get(asset)
            assert loaded.status_code == 200, asset
            sizes[asset] = compressed(loaded.data)
        total = sum(sizes.values())
        weights[path] = total
        print(
            f"{path}: {total / 1024:.1f} kB compressed ({', '.join(f'{k} {v / 1024:.1f}' for k, v in sizes.items())})"
        )
        files = [a.partition("?")[0] for a in sizes]
        assert any(f.endswith(".css") for f in files) and any(f.endswith(".js") for f in files)
        assert "/static/vendor/sip.js/sip.bundle.js" in files
    assert max(weights.values()) <= LIMIT, weights
