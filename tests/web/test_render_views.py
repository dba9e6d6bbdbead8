from __future__ import annotations

from click.testing import CliRunner
from lxml import etree

from web.cli import cli


def test_preview_page_shows_rendered_files(admin_client, demo):
    page = admin_client.get("/render/asterisk").data.decode()
    assert "pjsip.conf" in page and "content hash" in page
    page = admin_client.get("/render/asterisk?file=pjsip.conf").data.decode()
    assert "switchboard" in page.lower()
    assert admin_client.get("/render/asterisk?file=../../etc/passwd").status_code == 404
    assert admin_client.get("/render/sip-express").status_code == 404
    fs = admin_client.get("/render/freeswitch").data.decode()
    assert ".xml" in fs


def test_preview_is_admin_only(agent_client):
    assert agent_client.get("/render/asterisk").status_code == 403


def test_render_cli_writes_both_kinds(database_url, demo, tmp_path):
    runner = CliRunner()
    for kind in ("asterisk", "freeswitch"):
        out = tmp_path / kind
        result = runner.invoke(cli, ["render", "--pbx", kind, "--out", str(out), "--tenant", "acme"])
        assert result.exit_code == 0, result.output
        assert "files written" in result.output
    assert (tmp_path / "asterisk" / "pjsip.conf").exists()
    for xml in (tmp_path / "freeswitch").rglob("*.xml"):
        etree.parse(str(xml))
    again = runner.invoke(cli, ["render", "--pbx", "asterisk", "--out", str(tmp_path / "asterisk")])
    assert again.exit_code != 0 and "empty" in again.output


def test_render_api_lists_files_and_hashes(client, demo):
    from control.db import unit_of_work
    from control.services import accounts, users

    with unit_of_work() as s:
        token = accounts.create_token(s, users.find_user_by_email(s, demo["admin_email"]))
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/render/asterisk", headers=headers).get_json()
    assert body["kind"] == "asterisk" and len(body["content_hash"]) == 64
    assert {"pjsip.conf", "extensions.conf", "queues.conf"} <= {f["path"] for f in body["files"]}
    assert client.get("/api/v1/render/asterisk").status_code == 401
    assert client.get("/api/v1/render/nope", headers=headers).status_code == 404
