"""Fusing rankings (BM25 on stems, BM25 on char n-grams, dense) into one.

RRF (Cormack et al., 2009) uses only ranks, so BM25's unbounded scores and cosine similarities
need no calibration; the weighted mix uses min-max normalised scores instead. Each ranking has a
weight. Defaults were picked with `python -m index evaluate --sweep` (README, "Retrieval quality").
"""

from __future__ import annotations

import numpy as np

Ranking = tuple[np.ndarray, np.ndarray]  # (ids best first, their scores)


def top_k(scores: np.ndarray, k: int) -> Ranking:
    """Best k (ids, scores) of a full score vector, best first; zero scores are no match."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids = np.argpartition(-scores, k - 1)[:k]
    ids = ids[np.argsort(-scores[ids], kind="stable")]
    ids = ids[scores[ids] > 0]
    return ids, scores[ids]


def rrf(rankings: dict[str, Ranking], weights: dict[str, float], k: int) -> dict[int, float]:
    """{id: sum over rankings of weight / (k + rank)}, rank starting at 1."""
    fused: dict[int, float] = {}
    for name, (ids, _) in rankings.items():
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        for rank, i in enumerate(ids.tolist(), start=1):
            fused[i] = fused.get(i, 0.0) + weight / (k + rank)
    return fused


def weighted(rankings: dict[str, Ranking], weights: dict[str, float]) -> dict[int, float]:
    """{id: sum over rankings of weight * minmax(score)}; an id absent from a ranking gets 0 there."""
    fused: dict[int, float] = {}
    for name, (ids, scores) in rankings.items():
        weight = weights.get(name, 0.0)
        if weight <= 0 or len(ids) == 0:
            continue
        lo, hi = float(scores.min()), float(scores.max())
        norm = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
        for i, s in zip(ids.tolist(), norm.tolist(), strict=True):
            fused[i] = fused.get(i, 0.0) + weight * s
    return fused


def fuse(rankings: dict[str, Ranking], weights: dict[str, float], method: str = "rrf",
         rrf_k: int = 10) -> list[tuple[int, float]]:
    """-> [(id, fused score)] best first (ties broken by id, so results are deterministic)."""
    if method == "rrf":
        fused = rrf(rankings, weights, rrf_k)
    elif method == "weighted":
        fused = weighted(rankings, weights)
    else:
        raise ValueError(f"fusion={method!r}: choose 'rrf' or 'weighted'")
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
