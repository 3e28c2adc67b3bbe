"""GB 11643 validation, derived facts, and name masking."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.identity.errors import IdNumberInvalid
from bot.identity.idnumber import (
    check_character,
    is_valid_id_number,
    make_id_number,
    parse_id_number,
)
from bot.identity.masking import mask_name

# The worked example of GB 11643-1999, Appendix A.
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid_and_female() -> None:
    parsed = parse_id_number(STANDARD_EXAMPLE)
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sex == "F"
    assert parsed.region_code == "110105"


def test_lower_case_x_and_spaces_are_normalised() -> None:
    assert parse_id_number(" 11010519491231002x ").value == STANDARD_EXAMPLE


def test_male_from_odd_sequence_digit() -> None:
    number = make_id_number("440305", dt.date(1988, 2, 29), 17)
    assert parse_id_number(number).sex == "M"
    assert parse_id_number(number).age_on(dt.date(2006, 2, 28)) == 17
    assert parse_id_number(number).age_on(dt.date(2006, 3, 1)) == 18


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("110105194912310021", "check digit"),
        ("1101051949123100", "too short"),
        ("11010519491231002XX", "too long"),
        ("1101051949123100AX", "letters"),
        ("", "empty"),
        ("１１０１０５１９４９１２３１００２Ｘ", "full-width digits"),
    ],
)
def test_invalid_numbers_are_refused(number: str, why: str) -> None:
    with pytest.raises(IdNumberInvalid):
        parse_id_number(number)
    assert not is_valid_id_number(number), why


def test_impossible_date_is_refused() -> None:
    first17 = "11010519490230002"  # 30 February
    with pytest.raises(IdNumberInvalid, match="date of birth"):
        parse_id_number(first17 + check_character(first17))


def test_future_birth_is_refused() -> None:
    number = make_id_number("110105", dt.date(2031, 1, 1), 1)
    with pytest.raises(IdNumberInvalid, match="out of range"):
        parse_id_number(number, today=dt.date(2030, 12, 31))
    assert parse_id_number(number, today=dt.date(2031, 1, 1)).birth_date == dt.date(2031, 1, 1)


def test_region_code_shape_is_checked() -> None:
    first17 = "99010519491231002"  # no province 99
    with pytest.raises(IdNumberInvalid, match="region"):
        parse_id_number(first17 + check_character(first17))


def test_error_message_never_repeats_the_number() -> None:
    with pytest.raises(IdNumberInvalid) as caught:
        parse_id_number("110105194912310021")
    assert "110105" not in caught.value.message


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三明", "张*明"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("李", "李*"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked
