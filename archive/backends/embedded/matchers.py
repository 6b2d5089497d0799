"""Whoosh matchers that keep to a search's time budget.

Every Whoosh matcher (phrases, unions, intersections) moves through a term's postings; these
check the running search's budget every few hundred moves, so a slow query stops wherever
it spends its time.
"""

from __future__ import annotations

import contextlib
import threading

from whoosh import searching
from whoosh.matching.wrappers import WrappingMatcher

from ...index.budget import Budget


class BudgetedMatcher(WrappingMatcher):
    """A term's postings that check the running search's budget every few hundred moves:
    every Whoosh matcher (phrases, unions, intersections) moves through these, so a slow
    query stops wherever it spends its time."""

    CHECK_EVERY = 256

    def __init__(self, child, budget: Budget, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self.budget = budget
        self.moves = 0

    def copy(self):
        return BudgetedMatcher(self.child.copy(), self.budget, self.boost)

    def _replacement(self, newchild):
        return BudgetedMatcher(newchild, self.budget, self.boost)

    def next(self):
        self.moves += 1
        if not self.moves % self.CHECK_EVERY:
            self.budget.check()
        return self.child.next()

    def skip_to(self, id):
        self.moves += 1
        if not self.moves % self.CHECK_EVERY:
            self.budget.check()
        return self.child.skip_to(id)


_running = threading.local()  # the budget of the search this thread runs


@contextlib.contextmanager
def running(budget: Budget):
    previous = getattr(_running, "budget", None)
    _running.budget = budget
    try:
        yield
    finally:
        _running.budget = previous


class BudgetedSearcher(searching.Searcher):
    """Whoosh's searcher, with each term's postings checking the running search's budget."""

    def postings(self, fieldname, text, weighting=None, qf=1):
        matcher = super().postings(fieldname, text, weighting, qf)
        budget = getattr(_running, "budget", None)
        return matcher if budget is None or budget.deadline is None else BudgetedMatcher(matcher, budget)
