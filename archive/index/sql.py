"""SQLite helpers shared by the store and the embedding cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

IN_CHUNK = 500  # values per IN (...) list; SQLite limits the number of bound parameters


def select_in(connection: sqlite3.Connection, query: str, values: Sequence) -> Iterator[tuple]:
    """Rows of ``query`` for every value, in chunks: ``query`` holds one ``{placeholders}``
    where the ``IN (?, …)`` list goes."""
    for index in range(0, len(values), IN_CHUNK):
        chunk = list(values[index : index + IN_CHUNK])
        yield from connection.execute(query.format(placeholders=",".join("?" * len(chunk))), chunk)
