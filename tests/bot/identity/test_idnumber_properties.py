"""Property tests of ID-number validation (hypothesis): what is accepted is exactly GB 11643."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.identity.errors import IdNumberInvalid
from bot.identity.idnumber import (
    PROVINCES,
    check_character,
    make_id_number,
    parse_id_number,
)

TODAY = dt.date(2026, 11, 27)
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
regions = st.sampled_from(sorted(PROVINCES)).flatmap(
    lambda province: st.integers(0, 9999).map(lambda rest: f"{province:02d}{rest:04d}")
)
valid_numbers = st.builds(make_id_number, regions, births, st.integers(0, 999))


@given(st.text(max_size=40))
@settings(max_examples=500)
def test_anything_is_either_a_canonical_number_or_refused(raw: str) -> None:
    try:
        parsed = parse_id_number(raw, today=TODAY)
    except IdNumberInvalid:
        return
    value = parsed.value
    assert len(value) == 18 and value.isascii()
    assert value[:17].isdigit() and (value[17].isdigit() or value[17] == "X")
    assert check_character(value[:17]) == value[17]


@given(valid_numbers)
def test_every_valid_number_parses_to_itself(number: str) -> None:
    parsed = parse_id_number(number, today=TODAY)
    assert parsed.value == number
    assert parsed.sex == ("M" if int(number[16]) % 2 else "F")


@given(valid_numbers, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_refused(number: str, position: int, char: str) -> None:
    changed = number[:position] + char + number[position + 1 :]
    if changed == number:
        return
    try:
        parsed = parse_id_number(changed, today=TODAY)
    except IdNumberInvalid:
        return
    raise AssertionError(f"{changed} accepted as {parsed.value} (one change from {number})")


@given(
    valid_numbers,
    st.sampled_from(["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९"]),
)
def test_full_width_and_other_scripts_digits_are_refused(number: str, digits: str) -> None:
    foreign = "".join(digits[int(c)] if c.isdigit() else c for c in number)
    try:
        parse_id_number(foreign, today=TODAY)
    except IdNumberInvalid:
        return
    raise AssertionError("digits of another script made a valid ID number")
