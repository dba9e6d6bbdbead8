"""Avatars, uploaded: a PNG, JPEG or WebP of at most 2 MB, decoded and re-encoded with Pillow (at
most 256 px a side, no metadata: EXIF, ICC, text chunks and anything appended are gone), stored
in the database and served from /avatars/<id> to logged-in users of the tenant only.

A file that is not one whole image of those formats is refused with a message naming the field:
not an image, too big, a decompression bomb, or a polyglot (markup inside, or bytes after the
image's end: a file another program would read as something else).
"""

from __future__ import annotations

import io
import re
import warnings
from typing import NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import Avatar, Contact, User
from control.validators import AVATAR_FORMATS, AVATAR_MAX_BYTES, AVATAR_MAX_PIXELS, AVATAR_SIDE

PATH = "/avatars/"
NOT_AN_IMAGE = "Choose a PNG, JPEG or WebP image."
TOO_BIG = f"An avatar is at most {AVATAR_MAX_BYTES // (1024 * 1024)} MB."
TOO_MANY_PIXELS = "This image is too large once decoded; choose a smaller one."
POLYGLOT = "This file holds more than an image; save it again as a plain PNG, JPEG or WebP."
# What a browser or an interpreter would take for a page or a script.
_MARKUP = re.compile(rb"<\s*(script|html|svg|iframe|object|body|!doctype)|<\?php|javascript:", re.I)
_PNG_END = b"IEND\xaeB`\x82"


class CleanImage(NamedTuple):
    data: bytes
    content_type: str


def _whole(raw: bytes, kind: str) -> bool:
    """Nothing after the image's own end."""
    if kind == "PNG":
        return raw.endswith(_PNG_END)
    if kind == "JPEG":
        return raw.endswith(b"\xff\xd9")
    size = int.from_bytes(raw[4:8], "little") + 8  # RIFF: its length, then the chunk's
    return len(raw) in (size, size + 1)


def clean(raw: bytes, field: str = "avatar") -> CleanImage:
    """The image re-encoded in its own format, or Invalid naming `field`."""
    if not raw:
        raise Invalid(NOT_AN_IMAGE, field)
    if len(raw) > AVATAR_MAX_BYTES:
        raise Invalid(TOO_BIG, field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=list(AVATAR_FORMATS))
            kind = image.format or ""
            width, height = image.size
            if width * height > AVATAR_MAX_PIXELS:
                raise Invalid(TOO_MANY_PIXELS, field)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid(TOO_MANY_PIXELS, field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise Invalid(NOT_AN_IMAGE, field) from None
    if kind not in AVATAR_FORMATS:
        raise Invalid(NOT_AN_IMAGE, field)
    if _MARKUP.search(raw) or not _whole(raw, kind):
        raise Invalid(POLYGLOT, field)
    upright: Image.Image = ImageOps.exif_transpose(image)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    mode = "RGBA" if has_alpha and kind != "JPEG" else "RGB"
    resized = upright.convert(mode)
    resized.thumbnail((AVATAR_SIDE, AVATAR_SIDE), Image.Resampling.LANCZOS)
    # A new image from the pixels alone: no info, EXIF, ICC profile or text chunk comes along.
    pixels = Image.frombytes(mode, resized.size, resized.tobytes())
    out = io.BytesIO()
    if kind == "PNG":
        pixels.save(out, kind, optimize=True)
    else:
        pixels.save(out, kind, quality=88)
    return CleanImage(out.getvalue(), AVATAR_FORMATS[kind])


def _avatar_id(url: str | None) -> int | None:
    if url and url.startswith(PATH) and url[len(PATH) :].isdigit():
        return int(url[len(PATH) :])
    return None


def store(session: Session, tenant_id: int, image: CleanImage) -> str:
    """Keep a cleaned image; returns the address it is served at."""
    avatar = Avatar(tenant_id=tenant_id, content_type=image.content_type, data=image.data)
    session.add(avatar)
    session.flush()
    return f"{PATH}{avatar.id}"


def drop(session: Session, tenant_id: int, url: str | None) -> None:
    """Forget a stored avatar that is no longer used (an https:// address is not ours to drop)."""
    avatar_id = _avatar_id(url)
    avatar = session.get(Avatar, avatar_id) if avatar_id is not None else None
    if avatar is not None and avatar.tenant_id == tenant_id:
        session.delete(avatar)
        session.flush()


def get(session: Session, viewer: User, avatar_id: int) -> Avatar:
    """An avatar for a logged-in user of its tenant; any other is NotFound."""
    avatar = session.get(Avatar, avatar_id)
    if avatar is None or avatar.tenant_id != viewer.tenant_id:
        raise NotFound("avatar", avatar_id)
    return avatar


def set_user_avatar(session: Session, user: User, raw: bytes) -> str:
    image = clean(raw)
    old = user.avatar
    user.avatar = store(session, user.tenant_id, image)
    drop(session, user.tenant_id, old)
    return user.avatar


def remove_user_avatar(session: Session, user: User) -> None:
    old, user.avatar = user.avatar, None
    session.flush()
    drop(session, user.tenant_id, old)


def set_contact_avatar(session: Session, contact: Contact, image: CleanImage | None) -> None:
    """A phonebook contact's avatar (None: removed)."""
    old = contact.avatar
    contact.avatar = store(session, contact.tenant_id, image) if image is not None else None
    session.flush()
    if old != contact.avatar:
        drop(session, contact.tenant_id, old)
