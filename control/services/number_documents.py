"""Documents uploaded for a pending number (the country's rule asks for them before approval).

Accepted: PDF, PNG and JPEG, told by their content (signature and trailer), never by the name
or the type the browser claims; at most MAX_DOCUMENT_BYTES. Stored under the data dir (never
under the web root) as <data dir>/number_documents/<tenant id>/<random hex>.<ext>, created
0600; the uploaded name is kept only as text to show. Only the tenant's admins read them back
(web/views/numbers.py and the API check the role; this module checks the tenant).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.config import settings
from control.errors import Conflict, Invalid, NotFound
from control.models import NumberDocument, PhoneNumber, User
from control.services import audit
from control.text import clean_text

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = MAX_DOCUMENT_BYTES + 64 * 1024  # a request carrying one file (and its form)
MAX_DOCUMENTS = 10  # per number
MAX_FILENAME = 120
KINDS = {  # content type: (extension, signature, trailer the file must end with (after blanks))
    "application/pdf": ("pdf", b"%PDF-", b"%%EOF"),
    "image/png": ("png", b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"),
    "image/jpeg": ("jpg", b"\xff\xd8\xff", b"\xff\xd9"),
}
UPLOADABLE = ("pending",)


def documents_dir(tenant_id: int) -> Path:
    return settings().data_dir / "number_documents" / str(tenant_id)


def content_type_of(content: bytes) -> str | None:
    """The document's type from its bytes, or None when it is none of PDF, PNG and JPEG."""
    tail = content[-1024:].rstrip(b"\r\n\t \x00")
    for content_type, (_ext, signature, trailer) in KINDS.items():
        if content.startswith(signature) and tail.endswith(trailer):
            return content_type
    return None


def list_documents(session: Session, tenant_id: int, number_id: int) -> list[NumberDocument]:
    return list(
        session.scalars(
            select(NumberDocument)
            .where(NumberDocument.tenant_id == tenant_id, NumberDocument.number_id == number_id)
            .order_by(NumberDocument.uploaded_at, NumberDocument.id)
        )
    )


def get_document(session: Session, tenant_id: int, document_id: int) -> NumberDocument:
    document = session.get(NumberDocument, document_id)
    if document is None or document.tenant_id != tenant_id:
        raise NotFound("document", document_id)
    return document


def document_path(document: NumberDocument) -> Path:
    return documents_dir(document.tenant_id) / document.stored_name


def add_document(
    session: Session, tenant_id: int, number_id: int, filename: str, content: bytes, actor: User | None
) -> NumberDocument:
    number = session.get(PhoneNumber, number_id)
    if number is None or number.tenant_id != tenant_id:
        raise NotFound("number", number_id)
    if number.status not in UPLOADABLE:
        raise Conflict(f"{number.e164} is not pending: it needs no documents.")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise Invalid(f"A document has at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB.", "document")
    content_type = content_type_of(content)
    if content_type is None:
        raise Invalid("Upload a PDF, PNG or JPEG file.", "document")
    if len(list_documents(session, tenant_id, number_id)) >= MAX_DOCUMENTS:
        raise Invalid(f"At most {MAX_DOCUMENTS} documents per number.", "document")
    shown = clean_text(os.path.basename(filename.replace("\\", "/")))[:MAX_FILENAME] or "document"
    stored = f"{secrets.token_hex(16)}.{KINDS[content_type][0]}"
    folder = documents_dir(tenant_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    document = NumberDocument(
        tenant_id=tenant_id,
        number_id=number_id,
        filename=shown,
        stored_name=stored,
        content_type=content_type,
        size=len(content),
        uploaded_by_id=actor.id if actor else None,
    )
    session.add(document)
    session.flush()
    audit.write(session, actor, "number.document", number, e164=number.e164, document=shown)
    return document


def delete_document(session: Session, tenant_id: int, document_id: int, actor: User | None) -> None:
    document = get_document(session, tenant_id, document_id)
    number = session.get(PhoneNumber, document.number_id)
    if number is not None and number.status not in UPLOADABLE:
        raise Conflict("The number was approved: its documents are kept.")
    path = document_path(document)
    audit.write(session, actor, "number.document_delete", number, document=document.filename)
    session.delete(document)
    session.flush()
    path.unlink(missing_ok=True)
