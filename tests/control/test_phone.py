from __future__ import annotations

import pytest

from control.errors import Invalid
from control.phone import parse_number


def test_north_american_numbers_are_fixed_line_or_mobile():
    parsed = parse_number("(212) 555-0100", "US")
    assert parsed.e164 == "+12125550100"
    assert parsed.number_type == "fixed_line_or_mobile"
    assert parsed.country == "US"


def test_toll_free_and_mobile_types():
    assert parse_number("+1 800 555 0199").number_type == "toll_free"
    assert parse_number("+33 6 12 34 56 78").number_type == "mobile"
    assert parse_number("+44 20 7183 8750").number_type == "local"


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+999 1234", "1" * 40])
def test_bad_numbers_are_invalid_with_a_reason(raw):
    with pytest.raises(Invalid) as exc:
        parse_number(raw)
    assert exc.value.errors["number"]
