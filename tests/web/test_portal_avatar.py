"""Avatars uploaded in the portal (Settings, phonebook contacts) and through /api/v1/me/avatar:
re-encoded so no metadata or script survives, served with their real content type to logged-in
users of the tenant only; a bad file is a message naming the field."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from control import db
from control.models import Avatar, Tenant, User
from control.services import avatars, users
from tests.api.conftest import ApiClient, make_token
from tests.web.portal_data import BOB, logged_in


def png(size: tuple[int, int] = (600, 400), text: str | None = None) -> bytes:
    out = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    Image.new("RGBA", size, (200, 30, 30, 255)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (800, 600), (10, 120, 200))
    exif = image.getexif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90°
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), icc_profile=b"\0" * 128)
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (0, 200, 0)).save(out, "WEBP")
    return out.getvalue()


def upload(client, data: bytes, name: str = "me.png"):  # type: ignore[no-untyped-def]
    return client.post(
        "/portal/settings/avatar",
        data={"avatar": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def stored(email: str) -> tuple[str | None, Avatar | None]:
    with db.unit_of_work() as s:
        user = users.find_user_by_email(s, email)
        assert user is not None
        avatar_id = avatars._avatar_id(user.avatar)
        avatar = s.get(Avatar, avatar_id) if avatar_id else None
        if avatar is not None:
            s.expunge(avatar)
        return user.avatar, avatar


def test_clean_reencodes_and_strips_everything() -> None:
    cleaned = avatars.clean(jpeg_with_exif())
    assert cleaned.content_type == "image/jpeg"
    image = Image.open(io.BytesIO(cleaned.data))
    assert image.format == "JPEG" and max(image.size) <= 256
    assert image.size == (192, 256)  # the EXIF orientation was applied, then dropped
    assert not image.getexif() and "icc_profile" not in image.info and b"SecretCam" not in cleaned.data
    kept = avatars.clean(png(text="owner: alice"))
    assert kept.content_type == "image/png" and b"owner: alice" not in kept.data
    assert Image.open(io.BytesIO(kept.data)).size == (256, 171)
    assert avatars.clean(webp()).content_type == "image/webp"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", avatars.NOT_AN_IMAGE),
        (b"GIF89a" + b"\0" * 100, avatars.NOT_AN_IMAGE),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", avatars.NOT_AN_IMAGE),
        (png()[:200], avatars.NOT_AN_IMAGE),  # cut short
        (png() + b"PK\x03\x04 a zip after the image", avatars.POLYGLOT),
        (png(text="<script>alert(1)</script>"), avatars.POLYGLOT),
        (jpeg_with_exif() + b"<?php system($_GET['c']); ?>", avatars.POLYGLOT),
        (png((12000, 12000)), avatars.TOO_MANY_PIXELS),  # a decompression bomb: small file, 144 Mpx
        (b"\x89PNG" + b"\0" * (2 * 1024 * 1024), avatars.TOO_BIG),
    ],
    ids=[
        "empty",
        "gif",
        "svg",
        "truncated",
        "zip-polyglot",
        "script-chunk",
        "php-polyglot",
        "bomb",
        "too-big",
    ],
)
def test_bad_files_are_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(avatars.Invalid) as refused:
        avatars.clean(data)
    assert refused.value.errors == {"avatar": [message]}


def test_settings_upload_shows_in_the_header_and_is_served_to_the_tenant_only(
    app, agent_client, demo
) -> None:  # type: ignore[no-untyped-def]
    response = upload(agent_client, jpeg_with_exif(), "holiday.jpg")
    assert response.status_code == 302
    url, avatar = stored(demo["agent_email"])
    assert url and url.startswith("/avatars/") and avatar is not None
    served = agent_client.get(url)
    assert served.status_code == 200 and served.content_type == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert b"SecretCam" not in served.data
    page = agent_client.get("/portal/phonebook").get_data(as_text=True)
    assert f'<img class="avatar" src="{url}"' in page  # the portal's header
    # a teammate sees it on the team contacts; a stranger or another tenant does not get it
    bob = logged_in(app, BOB, demo["password"])
    assert f'src="{url}"' in bob.get("/portal/contacts/team").get_data(as_text=True)
    assert bob.get(url).status_code == 200
    assert app.test_client().get(url).status_code == 302  # to the login page
    with db.unit_of_work() as s:
        other = Tenant(name="Other", domain="other.example")
        s.add(other)
        s.flush()
        users.create_user(
            s,
            other.id,
            {"name": "Olga", "email": "olga@other.example", "password": "another-long-password"},
            None,
        )
    assert logged_in(app, "olga@other.example", "another-long-password").get(url).status_code == 404
    # a new upload replaces the old (which is gone); removing it removes it
    assert upload(agent_client, webp(), "me.webp").status_code == 302
    new_url, _ = stored(demo["agent_email"])
    assert new_url != url and agent_client.get(url).status_code == 404
    assert agent_client.get(new_url).content_type == "image/webp"
    assert agent_client.post("/portal/settings/avatar/remove").status_code == 302
    assert stored(demo["agent_email"]) == (None, None)


def test_settings_bad_upload_is_a_message_on_the_field(agent_client, demo) -> None:  # type: ignore[no-untyped-def]
    response = upload(agent_client, png() + b"<script>alert(1)</script>")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<p class="error" id="avatar-error">{avatars.POLYGLOT}</p>' in page
    assert 'aria-invalid="true"' in page.split('id="avatar"')[1].split(">")[0]
    big = upload(agent_client, b"\x89PNG" + b"\0" * (3 * 1024 * 1024))  # over the limit, not a bare 413
    assert big.status_code == 400 and avatars.TOO_BIG in big.get_data(as_text=True)
    assert stored(demo["agent_email"]) == (None, None)


def test_phonebook_contact_avatar(agent_client, demo) -> None:  # type: ignore[no-untyped-def]
    created = agent_client.post(
        "/portal/phonebook/new",
        data={
            "name": "Garage",
            "number": "+12025550160",
            "email": "",
            "avatar": (io.BytesIO(png()), "g.png"),
        },
        content_type="multipart/form-data",
    )
    assert created.status_code == 302
    page = agent_client.get("/portal/phonebook").get_data(as_text=True)
    row = page.split("Garage</a>")[0].rsplit("<tr", 1)[1]
    url = row.split('<img class="avatar" src="')[1].split('"')[0]
    assert agent_client.get(url).content_type == "image/png"
    contact_id = int(row.split('id="phonebook-')[1].split('"')[0])
    # editing other fields keeps it; a bad file is the field's message; removing drops it
    assert (
        agent_client.post(
            f"/portal/phonebook/{contact_id}", data={"name": "Garage Smith", "number": "+12025550160"}
        ).status_code
        == 302
    )
    assert url in agent_client.get(f"/portal/phonebook/{contact_id}").get_data(as_text=True)
    bad = agent_client.post(
        f"/portal/phonebook/{contact_id}",
        data={"name": "", "avatar": (io.BytesIO(b"not an image"), "x.png")},
        content_type="multipart/form-data",
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and avatars.NOT_AN_IMAGE in text and 'id="name-error"' in text
    removed = agent_client.post(
        f"/portal/phonebook/{contact_id}",
        data={"name": "Garage", "number": "+12025550160", "remove_avatar": "on"},
    )
    assert removed.status_code == 302 and agent_client.get(url).status_code == 404


def test_me_api_avatar(app, demo) -> None:  # type: ignore[no-untyped-def]
    api = ApiClient(app.test_client(), make_token(demo["agent_email"]))
    put = api.put(
        "/api/v1/me/avatar",
        data={"avatar": (io.BytesIO(webp()), "a.webp")},
        content_type="multipart/form-data",
    )
    assert put.status_code == 200, put.get_json()
    url = put.get_json()["avatar"]
    assert api.get("/api/v1/me").get_json()["avatar"] == url
    bad = api.put(
        "/api/v1/me/avatar",
        data={"avatar": (io.BytesIO(png() + b"<html>"), "a.png")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and bad.get_json()["errors"] == {"avatar": [avatars.POLYGLOT]}
    extra = api.put(
        "/api/v1/me/avatar",
        data={"avatar": (io.BytesIO(webp()), "a.webp"), "colour": "red"},
        content_type="multipart/form-data",
    )
    assert extra.status_code == 422 and extra.get_json()["errors"] == {
        "colour": ["Not a field of this request."]
    }
    missing = api.put("/api/v1/me/avatar", data={}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "avatar" in missing.get_json()["errors"]
    assert api.delete("/api/v1/me/avatar").status_code == 204
    assert api.get("/api/v1/me").get_json()["avatar"] is None
    with db.unit_of_work() as s:
        alice = s.get(User, demo["agent_id"])
        assert alice is not None and alice.avatar is None


def test_an_upload_over_the_limit_is_the_field_message_with_csrf_on(demo) -> None:  # type: ignore[no-untyped-def]
    """CSRF reads the form before the view: the upload's own limit applies before it does."""
    from web.app import create_app

    client = create_app({"TESTING": True}).test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf-token" content="')[1].split('"')[0]
    client.post(
        "/login", data={"email": demo["agent_email"], "password": demo["password"], "csrf_token": token}
    )
    settings = client.get("/portal/settings/").get_data(as_text=True)
    token = settings.split('name="csrf-token" content="')[1].split('"')[0]
    big = client.post(
        "/portal/settings/avatar",
        data={"csrf_token": token, "avatar": (io.BytesIO(b"\x89PNG" + b"\0" * (3 * 1024 * 1024)), "big.png")},
        content_type="multipart/form-data",
    )
    assert big.status_code == 400 and avatars.TOO_BIG in big.get_data(as_text=True)
