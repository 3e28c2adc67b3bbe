"""Resident identity numbers (GB 11643-1999): validation and the facts they encode.

Invariants:
- :func:`parse_id_number` accepts exactly 17 digits plus a check character (digit or ``X``,
  lower case normalised), whose ISO 7064 MOD 11-2 check matches, whose six-digit region code has
  the shape of a real province-level code, and whose date of birth exists and is not in the future.
- Error messages never repeat the number: they are shown to clients and logged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.identity.errors import IdNumberInvalid

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Province-level prefixes of GB/T 2260 (mainland, Taiwan, Hong Kong, Macao).
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)
EARLIEST_BIRTH = dt.date(1900, 1, 1)
# ASCII only: ``\d`` would also match full-width and other scripts' digits, which ``int``
# accepts, so one person would have several "valid" numbers (and several attempt counters).
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


@dataclass(frozen=True)
class IdNumber:
    """A valid ID number and what it says: region code, date of birth and sex (``M``/``F``)."""

    value: str
    region_code: str
    birth_date: dt.date
    sex: str

    def age_on(self, day: dt.date) -> int:
        """Completed years of age on ``day``."""
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_id_number(raw: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate ``raw`` and return its parts, or raise :class:`IdNumberInvalid`."""
    value = raw.strip().upper() if isinstance(raw, str) else ""
    if not _SHAPE.fullmatch(value):
        raise IdNumberInvalid("The ID number must be 17 digits followed by a digit or X.")
    if int(value[:2]) not in PROVINCES:
        raise IdNumberInvalid("The ID number's region code is not valid.")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise IdNumberInvalid("The ID number's date of birth is not a real date.") from exc
    today = today or dt.datetime.now(dt.UTC).date()
    if birth > today or birth < EARLIEST_BIRTH:
        raise IdNumberInvalid("The ID number's date of birth is out of range.")
    if check_character(value[:17]) != value[17]:
        raise IdNumberInvalid("The ID number's check digit does not match.")
    sex = "M" if int(value[16]) % 2 == 1 else "F"
    return IdNumber(value=value, region_code=value[:6], birth_date=birth, sex=sex)


def is_valid_id_number(raw: str) -> bool:
    """True when :func:`parse_id_number` accepts ``raw``."""
    try:
        parse_id_number(raw)
    except IdNumberInvalid:
        return False
    return True


def make_id_number(region: str, birth: dt.date, sequence: int) -> str:
    """Build a valid number (demo data and tests): region, birth date, 3-digit sequence."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
