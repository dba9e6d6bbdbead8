from __future__ import annotations

from control.models import Team


def test_create_list_edit_delete_team(admin_client, session):
    assert admin_client.post("/teams/new", data={"name": "Night shift"}).status_code == 302
    page = admin_client.get("/teams/?q=night").data.decode()
    assert "Night shift" in page and "Support" not in page
    team_id = session.query(Team).filter_by(name="Night shift").one().id
    assert admin_client.post(f"/teams/{team_id}", data={"name": "Late shift"}).status_code == 302
    assert "Late shift" in admin_client.get("/teams/").data.decode()
    assert admin_client.post(f"/teams/{team_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Team, team_id) is None


def test_bad_input_rerenders_with_message(admin_client, session):
    before = session.query(Team).count()
    response = admin_client.post("/teams/new", data={"name": "x" * 10_000})
    assert response.status_code == 400
    assert b"At most 120 characters" in response.data
    response = admin_client.post("/teams/new", data={"name": "Support"})
    assert b"Another team already has this name" in response.data
    assert session.query(Team).count() == before


def test_sort_accepts_only_allowed_columns(admin_client):
    assert admin_client.get("/teams/?sort=-name").status_code == 200
    assert admin_client.get("/teams/?sort=name;DROP TABLE teams").status_code == 400
