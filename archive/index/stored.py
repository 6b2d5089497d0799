"""What a generation stores of each passage, whichever backend stores it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PassageRecord:
    """One passage as a build writes it: a span of its article's text, the embedding cache
    key of its model input, and its sentences (spans relative to the passage, unit vectors)."""

    pid: int
    article_id: str
    ordinal: int
    start: int
    end: int
    cache_key: str
    sentence_spans: np.ndarray  # (sentences, 2) int32
    sentence_vectors: np.ndarray  # (sentences, dimension) float16


@dataclass(frozen=True)
class StoredPassage:
    """A passage as a generation gives it back: its span of its article's text and its
    sentences (spans relative to the passage, float16 unit vectors), for highlighting."""

    pid: int
    article_id: str
    ordinal: int
    start: int
    end: int
    sentence_spans: np.ndarray
    sentence_vectors: np.ndarray
