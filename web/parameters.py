"""Turning query-string values into library arguments; bad values are 400s that say what to fix."""

from __future__ import annotations

from archive.errors import InvalidParameterError

SEARCH_PARAMETERS = ("q", "mode", "k", "page", "alpha", "date_from", "date_to", "source", "sort")


def integer(arguments, name: str, default: int) -> int:
    value = arguments.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterError(f"{name} must be a whole number, not {value[:40]!r}") from None


def number(arguments, name: str) -> float | None:
    value = arguments.get(name)
    if value is None or value == "":
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise InvalidParameterError(f"{name} must be a number, not {value[:40]!r}") from None
    if parsed != parsed:  # NaN
        raise InvalidParameterError(f"{name} must be a number, not {value[:40]!r}")
    return parsed


def search_arguments(arguments) -> dict:
    """Library keyword arguments for ``Archive.search`` from request arguments (q excluded)."""
    return {
        "mode": arguments.get("mode") or "hybrid",
        "k": integer(arguments, "k", 10),
        "page": integer(arguments, "page", 1),
        "alpha": number(arguments, "alpha"),
        "date_from": arguments.get("date_from") or None,
        "date_to": arguments.get("date_to") or None,
        "source": arguments.get("source") or None,
        "sort": arguments.get("sort") or "relevance",
    }
