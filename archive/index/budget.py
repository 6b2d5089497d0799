"""A search's time budget.

A search gets a fixed allowance (``ARCHIVE_QUERY_BUDGET_MS``, 1 s by default). The slow
parts check it as they go: the keyword impact arrays between terms, Whoosh's matchers (for
phrases and ranges) every few hundred postings. Past the deadline they stop, the search
returns what it has ranked so far, and the response says ``timed_out``. The deadline falls
at ``SEARCH_SHARE`` of the allowance: the rest is kept for building the page of results and
the response, which under load (other requests sharing the cores) takes tens of milliseconds.
"""

from __future__ import annotations

import time

from ..settings import DEFAULT_BUDGET_MS

SEARCH_SHARE = 0.9


class OutOfTime(Exception):
    """Raised inside a leg when its budget is spent; caught in the index layer, never shown."""


class Budget:
    def __init__(self, milliseconds: float | None = DEFAULT_BUDGET_MS) -> None:
        """``None``: no limit (builds and tests that compare whole rankings)."""
        self.milliseconds = milliseconds
        self.deadline = None if milliseconds is None else time.monotonic() + SEARCH_SHARE * milliseconds / 1000
        self.timed_out = False
        self.notes: list[str] = []  # what the search had to cut or change as it ran, for the response's note

    def expired(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.timed_out

    def spent(self) -> bool:
        """Whether the deadline has passed (without marking the search as timed out)."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def remaining(self) -> float | None:
        """Seconds left (None: no limit)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise ``OutOfTime`` once the deadline has passed."""
        if self.expired():
            raise OutOfTime


UNLIMITED = Budget(None)
