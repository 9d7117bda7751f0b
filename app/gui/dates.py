"""Reading a day typed by hand ("01 Jan 2008", "2008-01-31", "31/1/2008", "January 1, 2008").

No Qt and no C library locale: Qt sets the process locale from the environment, which changes
what `strptime("%b")` accepts, so month names are matched here against English names and any
names the caller adds (the user's own language, from QLocale).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
SHORT_MONTHS = tuple(m[:3].title() for m in MONTHS)
_ORDINALS = {"st", "nd", "rd", "th", "of"}
_TOKEN = re.compile(r"\d+|[^\W\d_]+")


def format_day(day: date) -> str:
    """ "1 Jan 2008": the same words whatever the locale, and read back by `parse_day`."""
    return f"{day.day} {SHORT_MONTHS[day.month - 1]} {day.year}"


def parse_day(text: str, *, day_first: bool = True, month_names: Iterable[Iterable[str]] = ()) -> date | None:
    """The day `text` names, or None when it names none.

    Accepted: a day, month and year in any usual order, the month as a number or a name (English,
    or one of `month_names[i]` for month i + 1, matched by its first three letters or more); a
    year alone ("2008") or a month and year ("Jan 2008") mean its first day. Numeric days such as
    "3/4/2008" are read day first when `day_first` (else month first), unless only one reading
    is a valid date. Two-digit years are 2000-2069 or 1970-1999.
    """
    tokens = _TOKEN.findall(text.lower())
    numbers: list[str] = []
    month: int | None = None
    names = _month_names(month_names)
    for token in tokens:
        if token.isdigit():
            numbers.append(token)
        elif token in _ORDINALS:
            continue
        else:
            found = _month_of(token, names)
            if found is None or month is not None:
                return None
            month = found
    try:
        if month is not None:
            return _with_month_name(numbers, month)
        return _numeric(numbers, day_first)
    except ValueError:
        return None


def _month_names(extra: Iterable[Iterable[str]]) -> list[set[str]]:
    names = [{m} for m in MONTHS]
    for i, forms in enumerate(extra):
        if i < 12:
            names[i].update(f.lower().strip(".") for f in forms if f)
    return names


def _month_of(word: str, names: list[set[str]]) -> int | None:
    """The month `word` names: a whole name, or a prefix of at least three letters."""
    hits = {i + 1 for i, forms in enumerate(names) for form in forms if form == word}
    if not hits and len(word) >= 3:
        hits = {i + 1 for i, forms in enumerate(names) for form in forms if form.startswith(word)}
    return hits.pop() if len(hits) == 1 else None


def _year(token: str) -> int:
    if len(token) == 4:
        return int(token)
    if len(token) == 2:
        value = int(token)
        return 2000 + value if value < 70 else 1900 + value
    raise ValueError(f"not a year: {token}")


def _with_month_name(numbers: list[str], month: int) -> date | None:
    if len(numbers) == 1 and len(numbers[0]) == 4:
        return date(int(numbers[0]), month, 1)
    if len(numbers) != 2:
        return None
    first, second = numbers
    if len(first) == 4:  # "2008 Jan 1"
        return date(int(first), month, int(second))
    return date(_year(second), month, int(first))  # "1 Jan 2008", "Jan 1 2008"


def _numeric(numbers: list[str], day_first: bool) -> date | None:
    if len(numbers) == 1 and len(numbers[0]) == 4:
        return date(int(numbers[0]), 1, 1)
    if len(numbers) == 1 and len(numbers[0]) == 8:  # 20080131
        value = numbers[0]
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    if len(numbers) == 2 and len(numbers[0]) == 4:  # 2008-01
        return date(int(numbers[0]), int(numbers[1]), 1)
    if len(numbers) != 3:
        return None
    a, b, c = numbers
    if len(a) == 4:  # 2008-01-31
        return date(int(a), int(b), int(c))
    year = _year(c)
    readings = [(int(a), int(b)), (int(b), int(a))]  # (day, month)
    if not day_first:
        readings.reverse()
    for day, month in readings:
        if 1 <= month <= 12:
            try:
                return date(year, month, day)
            except ValueError:
                continue
    return None
