"""More like this: the articles nearest in meaning to one article."""

from __future__ import annotations

import numpy as np

from ..backends.contract import Snapshot
from ..errors import ArticleNotFoundError


def similar_articles(snapshot: Snapshot, article_id: str, k: int) -> list[tuple[str, float]]:
    """(article id, cosine) of the ``k`` nearest articles: the mean of this article's passage
    vectors, searched in the vector index, grouped by article (an article counts by its
    nearest passage), this article excluded."""
    if snapshot.store.article(article_id) is None:
        raise ArticleNotFoundError(f"no article with id {article_id!r}")
    pids = snapshot.store.article_passage_ids(article_id)
    centroid = snapshot.vectors.reconstruct(pids).mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    passage_hits = snapshot.vectors.search(centroid, (k + 1) * 4 + len(pids))
    owners = snapshot.catalog.owners([pid for pid, _ in passage_hits])
    best: dict[str, float] = {}
    for pid, score in passage_hits:
        owner = owners.get(pid)
        if owner and owner != article_id and owner not in best:
            best[owner] = score
    return list(best.items())[: k + 4]  # a few more: an update may just have removed one
