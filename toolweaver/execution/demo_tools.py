"""The app's own offline tools: echo, a safe calculator, unit conversion, dates and text statistics.

They need no network and no keys, so ``make run`` can run plans and programs against the demo
catalog at once. ``DEMO_TOOLS.catalog()`` is the source of their entries in
``toolweaver/catalog/demo_catalog.yaml`` (a test keeps the two equal). Descriptions matter:
search ranks tools by them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Annotated, TypedDict

from toolweaver.execution.arithmetic import MAX_EXPRESSION_CHARS, evaluate
from toolweaver.execution.backends.python import ToolRegistry
from toolweaver.execution.units import convert

DEMO_TOOLS = ToolRegistry()

MAX_DAYS = 3_650_000  # about 10,000 years either way


class Echoed(TypedDict):
    """The text that was sent.

    Attributes:
        text: Exactly the text given.
    """

    text: str


@DEMO_TOOLS.tool(
    tags=["debug", "text"],
    examples=[{"request": "Repeat back the words 'hello world'", "arguments": {"text": "hello world"}}],
)
def echo(text: str) -> Echoed:
    """Return the given text unchanged, to test that tool calls work end to end.

    Args:
        text: Any text; it comes back as {"text": ...}.
    """
    return {"text": text}


class Calculation(TypedDict):
    """The result of a calculation.

    Attributes:
        expression: The expression as given.
        result: Its value.
    """

    expression: str
    result: float


@DEMO_TOOLS.tool(
    title="Calculator",
    tags=["math"],
    examples=[{"request": "What is (1200 * 1.19) / 12?", "arguments": {"expression": "(1200 * 1.19) / 12"}}],
)
def calculate(
    expression: Annotated[str, {"maxLength": MAX_EXPRESSION_CHARS}],
) -> Calculation:
    """Evaluate an arithmetic expression: numbers with + - * / ** (power) % (remainder) and // (whole-number
    division), and parentheses. Use instead of mental arithmetic for sums, prices, averages and
    percentages.

    Args:
        expression: Arithmetic only, e.g. "(1200 * 1.19) / 12" or "2 ** 10 % 7".
    """
    return {"expression": expression, "result": evaluate(expression)}


class Conversion(TypedDict):
    """A converted quantity.

    Attributes:
        value: The quantity in the target unit.
        unit: The target unit's symbol.
        from_value: The quantity as given.
        from_unit: The source unit's symbol.
        quantity: length, mass, volume or temperature.
    """

    value: float
    unit: str
    from_value: float
    from_unit: str
    quantity: str


@DEMO_TOOLS.tool(
    title="Convert units",
    tags=["conversion", "math"],
    examples=[
        {
            "request": "What is 72 Fahrenheit in Celsius?",
            "arguments": {"value": 72, "from_unit": "°F", "to_unit": "°C"},
        },
        {
            "request": "How many kilometres is 26.2 miles?",
            "arguments": {"value": 26.2, "from_unit": "mi", "to_unit": "km"},
        },
    ],
)
def convert_units(value: float, from_unit: str, to_unit: str) -> Conversion:
    """Convert a quantity between units of length, mass, volume or temperature, e.g. miles to kilometres,
    pounds to kilograms, gallons to litres or Fahrenheit to Celsius.

    Args:
        value: The quantity to convert.
        from_unit: Unit symbol or name, e.g. "mi", "lb", "gal", "°F".
        to_unit: Unit to convert to, of the same kind, e.g. "km", "kg", "l", "°C".
    """
    result, source, target, kind = convert(value, from_unit, to_unit)
    return {"value": result, "unit": target, "from_value": value, "from_unit": source, "quantity": kind}


# --- dates ---------------------------------------------------------------------------------------

_DAYS = Annotated[int, {"minimum": -MAX_DAYS, "maximum": MAX_DAYS}]


class DateSpan(TypedDict):
    """The time between two dates.

    Attributes:
        days: Calendar days from start to end (negative when end is earlier).
        weeks: The same in weeks, to two decimals.
        business_days: Monday-to-Friday days from start (counted) to end (not counted).
    """

    days: int
    weeks: float
    business_days: int


@DEMO_TOOLS.tool(
    title="Days between dates",
    tags=["dates", "time", "planning"],
    examples=[
        {
            "request": "How many days until Christmas 2025 from 1 March 2025?",
            "arguments": {"start": "2025-03-01", "end": "2025-12-25"},
        }
    ],
)
def days_between_dates(start: dt.date, end: dt.date) -> DateSpan:
    """Count the days, weeks and business days (Monday to Friday) between two dates, e.g. for deadlines,
    notice periods, countdowns or invoice terms.

    Args:
        start: First date, ISO format (YYYY-MM-DD).
        end: Second date, ISO format (YYYY-MM-DD).
    """
    days = (end - start).days
    sign = -1 if days < 0 else 1
    first, last = (start, end) if days >= 0 else (end, start)
    return {"days": days, "weeks": round(days / 7, 2), "business_days": sign * _business_days(first, last)}


def _business_days(first: dt.date, last: dt.date) -> int:
    weeks, rest = divmod((last - first).days, 7)
    count = weeks * 5
    for offset in range(rest):
        if (first.weekday() + offset) % 7 < 5:
            count += 1
    return count


class ShiftedDate(TypedDict):
    """A date moved by a number of days.

    Attributes:
        date: The resulting date (YYYY-MM-DD).
        weekday: Its day of the week, e.g. "Monday".
    """

    date: dt.date
    weekday: str


@DEMO_TOOLS.tool(
    title="Add days to a date",
    tags=["dates", "time", "planning"],
    examples=[
        {
            "request": "What date is 30 business days after 2025-06-02?",
            "arguments": {"date": "2025-06-02", "days": 30, "business_days": True},
        }
    ],
)
def add_days_to_date(date: dt.date, days: _DAYS, business_days: bool = False) -> ShiftedDate:
    """Add or subtract a number of calendar days or business days (Monday to Friday) to a date, e.g. to find
    a due date, a deadline or the end of a notice period.

    Args:
        date: Start date, ISO format (YYYY-MM-DD).
        days: Days to add; negative to go back in time.
        business_days: Count only Monday to Friday (weekends are skipped).
    """
    try:
        result = _add_business_days(date, days) if business_days else date + dt.timedelta(days=days)
    except OverflowError:
        raise ValueError("the resulting date is outside the years 1 to 9999") from None
    return {"date": result, "weekday": result.strftime("%A")}


def _add_business_days(date: dt.date, days: int) -> dt.date:
    if days == 0:
        return date
    step = 1 if days > 0 else -1
    result = date
    # From a weekend day, count as from the last weekday behind it: Saturday + 1 is Monday.
    while result.weekday() >= 5:
        result -= dt.timedelta(days=step)
    weeks, rest = divmod(abs(days), 5)
    result += dt.timedelta(weeks=step * weeks)  # five business days are one calendar week
    while rest:
        result += dt.timedelta(days=step)
        if result.weekday() < 5:
            rest -= 1
    return result


class DayInfo(TypedDict):
    """Calendar facts about one date.

    Attributes:
        weekday: Day of the week, e.g. "Friday".
        iso_weekday: 1 (Monday) to 7 (Sunday).
        iso_week: ISO 8601 week number.
        day_of_year: 1 to 366.
        is_weekend: Saturday or Sunday.
        is_leap_year: The date's year has 366 days.
    """

    weekday: str
    iso_weekday: int
    iso_week: int
    day_of_year: int
    is_weekend: bool
    is_leap_year: bool


@DEMO_TOOLS.tool(
    title="Day of the week",
    tags=["dates", "time", "planning"],
    examples=[{"request": "What day of the week is 14 July 2026?", "arguments": {"date": "2026-07-14"}}],
)
def day_of_week(date: dt.date) -> DayInfo:
    """Tell the day of the week of a date, with its ISO week number, day of the year and whether it falls on
    a weekend.

    Args:
        date: The date, ISO format (YYYY-MM-DD).
    """
    _, week, weekday = date.isocalendar()
    return {
        "weekday": date.strftime("%A"),
        "iso_weekday": weekday,
        "iso_week": week,
        "day_of_year": date.timetuple().tm_yday,
        "is_weekend": weekday >= 6,
        "is_leap_year": date.year % 4 == 0 and (date.year % 100 != 0 or date.year % 400 == 0),
    }


# --- text ----------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")
_WORDS_PER_MINUTE = 238  # average silent reading speed of adults
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or our she so that the "
    "their them they this to was we were what when which who will with you your not no do does did been "
    "than then there these those can could would should my me him us".split()
)


class WordCount(TypedDict):
    word: str
    count: int


class TextStatistics(TypedDict):
    """Counts and averages of a text.

    Attributes:
        characters: All characters, spaces included.
        characters_no_spaces: Characters without whitespace.
        words: Words (letters and digits; "don't" and "e-mail" count once).
        unique_words: Distinct words, ignoring case.
        sentences: Sentences, ended by . ! ? or the end of the text.
        paragraphs: Blocks separated by blank lines.
        average_word_length: Letters per word.
        average_sentence_words: Words per sentence.
        reading_time_minutes: At 238 words a minute.
        most_common_words: The most frequent words with their counts, lower-cased.
    """

    characters: int
    characters_no_spaces: int
    words: int
    unique_words: int
    sentences: int
    paragraphs: int
    average_word_length: float
    average_sentence_words: float
    reading_time_minutes: float
    most_common_words: list[WordCount]


@DEMO_TOOLS.tool(
    title="Text statistics",
    tags=["text", "language", "writing"],
    examples=[
        {
            "request": "How many words and sentences are in this paragraph, and which words repeat most?",
            "arguments": {"text": "The cat sat. The cat slept!", "top_n": 3},
        }
    ],
)
def text_statistics(
    text: Annotated[str, {"maxLength": 1_000_000}],
    top_n: Annotated[int, {"minimum": 0, "maximum": 100}] = 5,
    ignore_stopwords: bool = True,
) -> TextStatistics:
    """Count the words, characters, sentences and paragraphs of a text, estimate its reading time, and list
    its most common words. Use for word limits, readability checks and keyword overviews.

    Args:
        text: The text to analyse.
        top_n: How many of the most common words to list.
        ignore_stopwords: Leave common English words (the, and, of, ...) out of the most common words.
    """
    words = _WORD.findall(text)
    lowered = [word.lower() for word in words]
    sentences = [part for part in _SENTENCE_END.split(text) if _WORD.search(part)]
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    counted = Counter(w for w in lowered if not (ignore_stopwords and w in _STOPWORDS))
    return {
        "characters": len(text),
        "characters_no_spaces": sum(not char.isspace() for char in text),
        "words": len(words),
        "unique_words": len(set(lowered)),
        "sentences": len(sentences),
        "paragraphs": len(paragraphs),
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0.0,
        "average_sentence_words": round(len(words) / len(sentences), 2) if sentences else 0.0,
        "reading_time_minutes": round(len(words) / _WORDS_PER_MINUTE, 2),
        "most_common_words": [{"word": w, "count": n} for w, n in counted.most_common(top_n)],
    }
