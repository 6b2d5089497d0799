"""The embedding cache: passage embeddings keyed by (model, splitter, model input) hash.

It lives beside the generations in the index directory, so that every rebuild and update
re-embeds only text it has never seen. SQLite makes each batch's write atomic: a build
killed mid-way keeps the batches it finished.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .embeddings import PassageEmbedding
from .sql import select_in


class EmbeddingCache:
    """Keys include the model name, and a vector's length gives its dimension, so cached
    embeddings are read without loading the model."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = sqlite3.connect(path, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " key TEXT PRIMARY KEY, vector BLOB NOT NULL, spans BLOB NOT NULL, sentences BLOB NOT NULL)"
        )

    def close(self) -> None:
        self.connection.close()

    def get_many(self, keys: Iterable[str]) -> dict[str, PassageEmbedding]:
        rows = select_in(self.connection, "SELECT key, vector, spans, sentences FROM embeddings WHERE key IN ({placeholders})",
                         list(dict.fromkeys(keys)))
        return {key: self.decode(vector, spans, sentences) for key, vector, spans, sentences in rows}

    def get_vectors(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The passage vectors alone (a tenth of what ``get_many`` reads)."""
        rows = select_in(self.connection, "SELECT key, vector FROM embeddings WHERE key IN ({placeholders})",
                         list(dict.fromkeys(keys)))
        return {key: np.frombuffer(vector, dtype=np.float32) for key, vector in rows}

    @staticmethod
    def decode(vector: bytes, spans: bytes, sentences: bytes) -> PassageEmbedding:
        unit = np.frombuffer(vector, dtype=np.float32)
        return PassageEmbedding(
            unit,
            np.frombuffer(spans, dtype=np.int32).reshape(-1, 2),
            np.frombuffer(sentences, dtype=np.float16).reshape(-1, unit.shape[0]),
        )

    def put_many(self, items: Iterable[tuple[str, PassageEmbedding]]) -> None:
        with self.connection:
            self.connection.executemany(
                "INSERT OR REPLACE INTO embeddings (key, vector, spans, sentences) VALUES (?, ?, ?, ?)",
                [
                    (
                        key,
                        embedding.vector.astype(np.float32).tobytes(),
                        embedding.sentence_spans.astype(np.int32).tobytes(),
                        embedding.sentence_vectors.astype(np.float16).tobytes(),
                    )
                    for key, embedding in items
                ],
            )
