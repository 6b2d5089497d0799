"""Fusion of ranked lists: small pure functions, no index or model needed.

* ``reciprocal_rank_fusion``: score(d) = sum over lists of weight / (k + rank(d)); ranks
  start at 1. Robust to score scales; k=60 is the customary constant (Cormack et al. 2009).
* ``convex_combination``: min-max normalise each list's scores to [0, 1], then
  ``alpha * semantic + (1 - alpha) * keyword``; a document missing from a list gets 0 there.
  ``alpha`` = 1 is pure semantic, 0 pure keyword.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[Key]], k: float = RRF_K, weights: Mapping[str, float] | None = None
) -> dict[Key, float]:
    if k < 0:
        raise ValueError("the RRF constant k must be non-negative")
    fused: dict[Key, float] = {}
    for name, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def min_max_normalise(scores: Mapping[Key, float]) -> dict[Key, float]:
    """Scale to [0, 1]; a list whose scores are all equal maps to 1 (each is the best)."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def convex_combination(
    keyword_scores: Mapping[Key, float], semantic_scores: Mapping[Key, float], alpha: float
) -> dict[Key, float]:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    keyword_normalised = min_max_normalise(keyword_scores)
    semantic_normalised = min_max_normalise(semantic_scores)
    return {
        key: alpha * semantic_normalised.get(key, 0.0) + (1.0 - alpha) * keyword_normalised.get(key, 0.0)
        for key in keyword_normalised.keys() | semantic_normalised.keys()
    }


def rank(scores: Mapping[Key, float]) -> list[Key]:
    """Best first; ties broken by key so that results are deterministic."""
    return sorted(scores, key=lambda key: (-scores[key], str(key)))
