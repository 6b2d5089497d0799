"""Metadata for articles that carry none: title, date and source from the text itself."""

from __future__ import annotations

import re
import warnings
from datetime import date, datetime

from . import cleaning

MAX_TITLE_CHARACTERS = 200
MAX_TITLE_WORDS = 35
DERIVED_TITLE_CHARACTERS = 110
SOURCE_LINE = re.compile(
    r"^(?:source|originally\s+published\s+(?:by|in|on))\s*:?\s+(?P<source>(?:[A-Z0-9]|https?://)[^:]{1,60})$", re.I
)
SOURCE_LINE_WINDOW = 4  # a source line counts only near the top or the bottom
DATE_ONLY_LINE = re.compile(
    r"^(?:\w+day,?\s+)?(?:\d{1,2}(?:st|nd|rd|th)?\s+\w+\.?,?\s+\d{4}|\w+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|\d{4}-\d{2}-\d{2})"
    r"(?:[ ,]+(?:at\s+)?\d{1,2}:\d{2}.*)?$",
    re.I,
)
_ORDINAL = re.compile(r"(\d)(st|nd|rd|th)\b", re.I)
_TIME_TAIL = re.compile(r"\s+(?:at\s+)?\d{1,2}:\d{2}.*$", re.I)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def parse_date(value: object) -> str | None:
    """A publication date as ISO ``YYYY-MM-DD``, or None when it is not a full, real date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    iso = _ISO_DATE.match(text)
    if iso:
        try:
            return date(int(iso[1]), int(iso[2]), int(iso[3])).isoformat()
        except ValueError:
            return None
    # Time zones such as "IST" are ambiguous and irrelevant at day precision.
    text = _TIME_TAIL.sub("", _ORDINAL.sub(r"\1", text))
    import dateparser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = dateparser.parse(
            text,
            languages=["en"],
            settings={"REQUIRE_PARTS": ["day", "month", "year"], "PREFER_DATES_FROM": "past"},
        )
    return parsed.date().isoformat() if parsed else None


def find_date(lines: list[str]) -> str | None:
    """A stated publication date: a stamp line ("Published …") or a date-only line near the top."""
    filled = [line.strip() for line in lines if line.strip()]
    for line in filled[:8] + filled[-5:]:
        stamp = cleaning.STAMP_LINE.match(line)
        if stamp:
            found = parse_date(stamp["date"])
            if found:
                return found
    for line in filled[:5]:
        if DATE_ONLY_LINE.match(line):
            found = parse_date(line)
            if found:
                return found
    return None


def find_source(lines: list[str]) -> tuple[str | None, list[str]]:
    """A "Source: X" line names the source; the line leaves the body."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    for index in filled[:SOURCE_LINE_WINDOW] + filled[-SOURCE_LINE_WINDOW:]:
        match = SOURCE_LINE.match(lines[index].strip())
        if match and not match["source"][0].isupper() and not match["source"].startswith("http"):
            continue
        if match:
            return match["source"].strip().rstrip("."), lines[:index] + lines[index + 1 :]
    return None, lines


def is_headline(line: str) -> bool:
    words = line.split()
    return (
        0 < len(line) <= MAX_TITLE_CHARACTERS
        and 2 <= len(words) <= MAX_TITLE_WORDS
        and not DATE_ONLY_LINE.match(line)
        and not line.startswith("• ")
    )


def derive_title(text: str) -> str:
    """No headline: use the opening words, cut at a word boundary."""
    first = text.strip().split("\n", 1)[0]
    sentence_end = re.search(r"[.!?](?:\s|$)", first)
    if sentence_end and sentence_end.end() <= DERIVED_TITLE_CHARACTERS:
        return first[: sentence_end.end()].strip()
    if len(first) <= DERIVED_TITLE_CHARACTERS:
        return first.strip()
    cut = first[:DERIVED_TITLE_CHARACTERS].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def split_headline(lines: list[str]) -> tuple[str | None, list[str]]:
    """Take the headline off the top, with any caption lines that repeat it."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    if not filled:
        return None, lines
    first = filled[0]
    candidate = lines[first].strip()
    if not is_headline(candidate) or len(filled) < 2:
        return None, lines
    rest = [line for line in lines[first + 1 :] if not line.strip().startswith(candidate)]
    return candidate.rstrip(), rest
