"""HTML for marked text, through the one Jinja macro (``templates/_marks.html``), for the
JSON API's ``html`` field: API users get exactly what the pages show."""

from __future__ import annotations

from flask import get_template_attribute
from markupsafe import Markup

from archive import Mark


def marked_html(text: str, marks: list[Mark] | list[dict]) -> Markup:
    return get_template_attribute("_marks.html", "marked")(text, [as_mark(mark) for mark in marks])


def as_mark(mark: Mark | dict) -> Mark:
    return mark if isinstance(mark, Mark) else Mark(mark["start"], mark["end"], mark["kind"])


def with_html(response: dict) -> dict:
    """A search response (as a dict) whose passages also carry their ``html``."""
    for result in response["results"]:
        for passage in result["passages"]:
            passage["html"] = str(marked_html(passage["text"], passage["marks"]))
    return response
