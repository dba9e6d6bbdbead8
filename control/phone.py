"""Phone numbers: E.164 normalisation, country and type, through the phonenumbers library."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from control.errors import Invalid
from control.validators import E164

MAX_NUMBER_TEXT = 32  # what a person may type for one number
_TYPES = {
    PhoneNumberType.FIXED_LINE: "local",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.MOBILE: "mobile",
    # North American numbers are never told apart: keep that as its own type.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
}


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    e164: str
    country: str
    number_type: str


def parse_number(raw: str, default_country: str = "US", field: str = "number") -> ParsedNumber:
    """Parse what a person typed into E.164; raise Invalid with a readable reason."""
    text = (raw or "").strip()
    if not text:
        raise Invalid("A phone number is required.", field)
    if len(text) > MAX_NUMBER_TEXT:
        raise Invalid(f"A phone number has at most {MAX_NUMBER_TEXT} characters.", field)
    try:
        parsed = phonenumbers.parse(text, default_country.upper() or None)
    except NumberParseException:
        raise Invalid(f"“{text[:32]}” is not a phone number.", field) from None
    if not phonenumbers.is_valid_number(parsed):
        raise Invalid(f"“{text[:32]}” is not a valid phone number.", field)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not E164.accepts(e164):
        raise Invalid(f"“{text[:32]}” is longer than an international number can be.", field)
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code or 0
    )
    number_type = _TYPES.get(phonenumbers.number_type(parsed), "other")
    return ParsedNumber(e164=e164, country=region or "ZZ", number_type=number_type)


def digits_only(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
