"""Phone numbers: boxes with status dots, filters, buy, documents and approval, high risk and
replacement, add, assign, transfer, do-not-use, release; the country rules and the inventory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response

from control import number_providers
from control.errors import Conflict, Forbidden, Invalid
from control.models import PhoneNumber
from control.models.numbers import NUMBER_STATUSES, NUMBER_TYPES
from control.number_providers import NumberQuery, ProviderError
from control.services import lines, number_documents, number_lifecycle, number_rules, teams, users
from control.services import numbers as numbers_service
from control.validators import row_id
from web.auth import actor
from web.db import db, write
from web.forms import checkbox, form_data
from web.views.query_args import page_arg

ADMIN_AREA = True
bp = Blueprint("numbers", __name__, url_prefix="/numbers")

TYPE_LABELS = {
    "local": "Local",
    "toll_free": "Toll free",
    "mobile": "Mobile",
    "fixed_line_or_mobile": "Fixed line or mobile",
    "other": "Other",
}
STATUS_LABELS = {
    "pending": "Pending",
    "active": "Active",
    "high_risk": "High risk",
    "to_be_cancelled": "To be cancelled",
    "released": "Released",
}
# The dot on each number: red high risk, green active, yellow pending (seed 002).
STATUS_COLOURS = {
    "high_risk": "#ef4444",
    "active": "#22c55e",
    "pending": "#eab308",
    "to_be_cancelled": "#6b7280",
    "released": "#d1d5db",
}


@bp.get("/")
def index() -> str:
    me = actor()
    page = numbers_service.list_numbers(
        db(),
        me.tenant_id,
        q=request.args.get("q", ""),
        status=request.args.get("status", ""),
        number_type=request.args.get("type", ""),
        country=request.args.get("country", ""),
        assigned=request.args.get("assigned", ""),
        page=page_arg(),
        sort=request.args.get("sort"),
    )
    counts = numbers_service.number_status_counts(db(), me.tenant_id)
    return render_template(
        "numbers/index.html",
        page=page,
        counts={status: counts.get(status, 0) for status in NUMBER_STATUSES},
        countries=numbers_service.number_countries(db(), me.tenant_id),
        types=NUMBER_TYPES,
        may_approve=number_lifecycle.may_approve(me),
        **_labels(me.tenant_id),
    )


def _labels(tenant_id: int) -> dict[str, Any]:
    return {
        "team_names": {t.id: t.name for t in teams.all_teams(db(), tenant_id)},
        "user_names": {u.id: u.name for u in users.all_users(db(), tenant_id)},
        "line_names": {line.id: line.name for line in lines.all_lines(db(), tenant_id)},
        "type_labels": TYPE_LABELS,
        "status_labels": STATUS_LABELS,
        "status_colours": STATUS_COLOURS,
    }


def _form(number: PhoneNumber | None, data: dict[str, Any], errors: dict[str, list[str]]) -> tuple[str, int]:
    me = actor()
    labels = _labels(me.tenant_id)
    page = render_template(
        "numbers/form.html",
        number=number,
        data=data,
        errors=errors,
        documents=number_documents.list_documents(db(), me.tenant_id, number.id) if number else [],
        rule=number_rules.find_rule(db(), me.tenant_id, number.country) if number else None,
        may_approve=number_lifecycle.may_approve(me),
        team_options=list(labels["team_names"].items()),
        user_options=list(labels["user_names"].items()),
        line_options=list(labels["line_names"].items()),
        **labels,
    )
    return page, 400 if errors else 200


def _submitted() -> dict[str, Any]:
    data = form_data(request.form)
    data["do_not_use"] = checkbox(request.form, "do_not_use")
    return data


@bp.route("/new", methods=["GET", "POST"])
def create():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _form(None, {}, {})
    me = actor()
    data = _submitted()
    try:
        with write() as s:
            number = numbers_service.create_number(s, me.tenant_id, data, me)
            e164 = number.e164
    except Invalid as exc:
        return _form(None, data, exc.errors)
    flash(f"Number {e164} added.", "success")
    return redirect(url_for("numbers.index"))


def _current(number: PhoneNumber) -> dict[str, Any]:
    return {
        "do_not_use": number.do_not_use,
        "team_id": number.team_id,
        "user_id": number.user_id,
        "line_id": number.line_id,
    }


@bp.route("/<int:number_id>", methods=["GET", "POST"])
def edit(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    if request.method == "GET":
        return _form(number, _current(number), {})
    data = _submitted()
    try:
        with write() as s:
            numbers_service.update_number(s, me.tenant_id, number_id, data, me)
    except Invalid as exc:
        return _form(numbers_service.get_number(db(), me.tenant_id, number_id), data, exc.errors)
    flash("Number saved.", "success")
    return redirect(url_for("numbers.index"))


@bp.post("/<int:number_id>/transfer")
def transfer(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    line_id = row_id(request.form.get("transfer_line_id", ""))
    errors: dict[str, list[str]] = {}
    if line_id is None:
        errors["transfer_line_id"] = ["Choose the line to move the number to."]
    elif line_id == number.line_id:
        errors["transfer_line_id"] = ["The number is already on this line."]
    else:
        try:
            with write() as s:
                moved = numbers_service.transfer_number(s, me.tenant_id, number_id, line_id, me)
                line = lines.get_line(s, me.tenant_id, line_id)
                message = f"{moved.e164} now routes to {line.name}."
        except Invalid as exc:
            errors = {"transfer_line_id": [m for messages in exc.errors.values() for m in messages]}
    if errors:
        number = numbers_service.get_number(db(), me.tenant_id, number_id)
        return _form(number, _current(number), errors)
    flash(message, "success")
    return redirect(url_for("numbers.edit", number_id=number_id))


@bp.post("/<int:number_id>/do-not-use")
def toggle_do_not_use(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    try:
        with write() as s:
            number = numbers_service.get_number(s, me.tenant_id, number_id)
            value = not number.do_not_use
            numbers_service.update_number(s, me.tenant_id, number_id, {"do_not_use": value}, me)
            e164 = number.e164
    except Invalid as exc:
        flash(" ".join(m for messages in exc.errors.values() for m in messages), "error")
    else:
        if value:
            flash(f"{e164} is no longer used for outbound calls and texts.", "success")
        else:
            flash(f"{e164} can be used again.", "success")
    return redirect(url_for("numbers.index"))


@bp.post("/<int:number_id>/release")
def release(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    return _act(
        lambda s: numbers_service.release_number(s, me.tenant_id, number_id, me),
        "{} was released and returned to its provider; it is gone for good.",
    )


@bp.post("/<int:number_id>/delete")
def delete(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    try:
        with write() as s:
            e164 = numbers_service.get_number(s, me.tenant_id, number_id).e164
            numbers_service.delete_number(s, me.tenant_id, number_id, me)
    except Conflict as exc:
        flash(str(exc), "error")
    else:
        flash(f"Number {e164} deleted.", "success")
    return redirect(url_for("numbers.index"))


def _back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/numbers/") and "//" not in target else url_for("numbers.index")


def _act(action: Any, message: str, *, back: str | None = None) -> Response:
    """Run a lifecycle action in one unit of work; flash what happened or why not."""
    try:
        with write() as s:
            e164 = action(s).e164
    except (Invalid, Conflict, Forbidden, ProviderError) as exc:
        text = (
            " ".join(m for messages in exc.errors.values() for m in messages)
            if isinstance(exc, Invalid)
            else str(exc)
        )
        flash(text, "error")
    else:
        flash(message.format(e164), "success")
    return redirect(back or _back())


# -- buying ------------------------------------------------------------------------------------
def _query() -> tuple[NumberQuery, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    country = request.args.get("country", "").strip().upper()
    if country and country not in number_rules.COUNTRIES:
        errors["country"] = ["A country code of two letters, like FR or DE."]
        country = ""
    number_type = request.args.get("type", "")
    if number_type and number_type not in NUMBER_TYPES:
        errors["type"] = ["Choose a type from the list."]
        number_type = ""
    digits = request.args.get("digits", "")[:16]
    return NumberQuery(country=country, number_type=number_type, digits=digits), errors


def _search(query: NumberQuery) -> tuple[list[number_providers.AvailableNumber], str]:
    me = actor()
    try:
        return number_providers.provider(db(), me.tenant_id).search(query), ""
    except ProviderError as exc:
        return [], str(exc)


@bp.get("/buy")
def buy_search() -> str:
    me = actor()
    query, errors = _query()
    found, problem = _search(query)
    rules = {rule.country: rule for rule in number_rules.list_rules(db(), me.tenant_id)}
    return render_template(
        "numbers/buy.html",
        found=found,
        problem=problem,
        errors=errors,
        rules=rules,
        types=NUMBER_TYPES,
        type_labels=TYPE_LABELS,
    )


@bp.post("/buy")
def buy():  # type: ignore[no-untyped-def]
    me = actor()
    e164 = request.form.get("e164", "")
    try:
        with write() as s:
            number = number_lifecycle.buy_number(s, me.tenant_id, e164, me)
            number_id, status, bought = number.id, number.status, number.e164
    except (Invalid, Conflict, ProviderError) as exc:
        flash(
            str(exc) if not isinstance(exc, Invalid) else "Choose a number from the search results.", "error"
        )
        return redirect(url_for("numbers.buy_search"))
    if status == "pending":
        flash(f"{bought} is yours and pending: upload the documents its country asks for.", "success")
        return redirect(url_for("numbers.edit", number_id=number_id) + "#documents")
    flash(f"{bought} is yours and active: assign it to a team, user or line.", "success")
    return redirect(url_for("numbers.edit", number_id=number_id))


# -- documents and approval --------------------------------------------------------------------
@bp.post("/<int:number_id>/documents")
def upload_document(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    request.max_content_length = number_documents.MAX_UPLOAD_BYTES
    upload = request.files.get("document")
    back = url_for("numbers.edit", number_id=number_id) + "#documents"
    if upload is None or not upload.filename:
        flash("Choose a PDF, PNG or JPEG file to upload.", "error")
        return redirect(back)
    content = upload.stream.read(number_documents.MAX_DOCUMENT_BYTES + 1)
    try:
        with write() as s:
            document = number_documents.add_document(s, me.tenant_id, number_id, upload.filename, content, me)
            name = document.filename
    except (Invalid, Conflict) as exc:
        flash(" ".join(exc.errors.get("document", [])) if isinstance(exc, Invalid) else str(exc), "error")
    else:
        flash(f"{name} uploaded.", "success")
    return redirect(back)


@bp.get("/documents/<int:document_id>")
def document(document_id: int) -> Response:
    me = actor()
    found = number_documents.get_document(db(), me.tenant_id, document_id)
    path = number_documents.document_path(found)
    if not path.is_file():
        abort(404)
    return send_file(
        path,
        mimetype=found.content_type,
        as_attachment=True,
        download_name=found.filename,
        max_age=0,
    )


@bp.post("/documents/<int:document_id>/delete")
def delete_document(document_id: int) -> Response:
    me = actor()
    found = number_documents.get_document(db(), me.tenant_id, document_id)
    back = url_for("numbers.edit", number_id=found.number_id) + "#documents"
    try:
        with write() as s:
            number_documents.delete_document(s, me.tenant_id, document_id, me)
    except Conflict as exc:
        flash(str(exc), "error")
    else:
        flash("Document deleted.", "success")
    return redirect(back)


@bp.post("/<int:number_id>/approve")
def approve(number_id: int) -> Response:
    me = actor()
    return _act(
        lambda s: number_lifecycle.approve_number(s, me.tenant_id, number_id, me),
        "{} is approved and active.",
    )


# -- high risk and replacement -----------------------------------------------------------------
@bp.post("/<int:number_id>/high-risk")
def flag_high_risk(number_id: int) -> Response:
    me = actor()
    return _act(
        lambda s: number_lifecycle.flag_high_risk(s, me.tenant_id, number_id, me),
        "{} is marked high risk: replace it.",
    )


@bp.post("/<int:number_id>/clear-high-risk")
def clear_high_risk(number_id: int) -> Response:
    me = actor()
    return _act(
        lambda s: number_lifecycle.clear_high_risk(s, me.tenant_id, number_id, me),
        "{} is no longer high risk.",
    )


@bp.route("/<int:number_id>/replace", methods=["GET", "POST"])
def replace(number_id: int):  # type: ignore[no-untyped-def]
    me = actor()
    number = numbers_service.get_number(db(), me.tenant_id, number_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = {
            "replacement_id": row_id(request.form.get("replacement_id", "")),
            "buy": request.form.get("buy"),
        }
        try:
            with write() as s:
                new = number_lifecycle.replace_number(s, me.tenant_id, number_id, data, me)
                message = (
                    f"{new.e164} replaces {number.e164} from now on; {number.e164} keeps answering "
                    f"calls until it is released on {number.cancel_at:%Y-%m-%d}."
                )
        except Invalid as exc:
            errors = exc.errors
        except (Conflict, ProviderError) as exc:
            errors = {"replacement_id": [str(exc)]}
        else:
            flash(message, "success")
            return redirect(url_for("numbers.index"))
        number = numbers_service.get_number(db(), me.tenant_id, number_id)
    query = NumberQuery(
        country=number.country,
        number_type=request.args.get("type", "") if request.args.get("type", "") in NUMBER_TYPES else "",
        digits=request.args.get("digits", "")[:16],
    )
    found, problem = _search(query)
    return render_template(
        "numbers/replace.html",
        number=number,
        candidates=number_lifecycle.replacement_candidates(db(), me.tenant_id, number_id),
        found=found,
        problem=problem,
        errors=errors,
        needs_documents=number_rules.documents_required(db(), me.tenant_id, number.country),
        types=NUMBER_TYPES,
        **_labels(me.tenant_id),
    ), 400 if errors else 200


@bp.post("/<int:number_id>/cancel-replacement")
def cancel_replacement(number_id: int) -> Response:
    me = actor()
    return _act(
        lambda s: number_lifecycle.cancel_replacement(s, me.tenant_id, number_id, me),
        "{} is kept: it is high risk again and will not be released.",
    )


# -- country rules -----------------------------------------------------------------------------
@bp.route("/rules", methods=["GET", "POST"])
def rules():  # type: ignore[no-untyped-def]
    me = actor()
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {"documents_required": True}
    if request.method == "POST":
        data = form_data(request.form)
        data["documents_required"] = checkbox(request.form, "documents_required")
        try:
            with write() as s:
                rule = number_rules.set_rule(s, me.tenant_id, data, me)
                country = rule.country
        except Invalid as exc:
            errors = exc.errors
        else:
            flash(f"Rule for {country} saved.", "success")
            return redirect(url_for("numbers.rules"))
    return render_template(
        "numbers/rules.html", rules=number_rules.list_rules(db(), me.tenant_id), data=data, errors=errors
    ), 400 if errors else 200


@bp.post("/rules/<country>/delete")
def delete_rule(country: str) -> Response:
    me = actor()
    with write() as s:
        number_rules.delete_rule(s, me.tenant_id, country, me)
    flash(f"Rule for {country.upper()} deleted: its numbers are active at once.", "success")
    return redirect(url_for("numbers.rules"))


# -- inventory (the built-in provider) ---------------------------------------------------------
@bp.route("/inventory", methods=["GET", "POST"])
def inventory():  # type: ignore[no-untyped-def]
    me = actor()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        request.max_content_length = number_documents.MAX_UPLOAD_BYTES
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = {"file": ["Choose a CSV file."]}
        else:
            try:
                text = upload.stream.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                errors = {"file": ["The file must be UTF-8 text (CSV)."]}
            else:
                try:
                    with write() as s:
                        loaded = number_providers.load_inventory(s, me.tenant_id, text)
                except Invalid as exc:
                    errors = exc.errors
                else:
                    flash(
                        f"{loaded.added} numbers added to the inventory ({loaded.already} were there already).",
                        "success",
                    )
                    return redirect(url_for("numbers.inventory"))
    available, bought = number_providers.inventory_counts(db(), me.tenant_id)
    return render_template(
        "numbers/inventory.html",
        available=available,
        bought=bought,
        errors=errors,
        provider_name=number_providers.configured_name(),
    ), 400 if errors else 200
