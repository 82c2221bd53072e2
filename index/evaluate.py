"""Retrieval quality on a question set: recall@1, recall@5 and MRR@10 per retriever.

The question file is JSON lines `{"question": ..., "evidence": ["substring", ...]}`; a retrieved
chunk is a hit when its text contains one of the evidence strings (whitespace-normalised).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from .store import HybridIndex


@dataclass
class QAItem:
    question: str
    evidence: list[str]


@dataclass
class Scores:
    name: str
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    n: int

    def line(self) -> str:
        return (f"{self.name:<8} recall@1={self.recall_at_1:.3f}  recall@5={self.recall_at_5:.3f}  "
                f"MRR@10={self.mrr_at_10:.3f}  (n={self.n})")

    def to_dict(self) -> dict:
        return {"retriever": self.name, "recall@1": self.recall_at_1, "recall@5": self.recall_at_5,
                "mrr@10": self.mrr_at_10, "n": self.n}


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_qa(path: str | Path) -> list[QAItem]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"question file not found: {path}")
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question, evidence = row["question"], row["evidence"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{lineno}: expected {{\"question\": ..., \"evidence\": [...]}} ({exc})") from exc
        if isinstance(evidence, str):
            evidence = [evidence]
        if not question.strip() or not evidence:
            raise ValueError(f"{path}:{lineno}: empty question or evidence")
        items.append(QAItem(question, [_norm(e) for e in evidence]))
    if not items:
        raise ValueError(f"{path}: no questions")
    return items


def first_hit(ranked_texts: list[str], evidence: list[str]) -> int | None:
    """1-based rank of the first text containing any evidence string, or None."""
    for rank, text in enumerate(ranked_texts, start=1):
        normalized = _norm(text)
        if any(e in normalized for e in evidence):
            return rank
    return None


def score_ranks(name: str, ranks: list[int | None]) -> Scores:
    n = len(ranks)
    return Scores(
        name,
        sum(r == 1 for r in ranks if r) / n,
        sum(r <= 5 for r in ranks if r) / n,
        sum(1.0 / r for r in ranks if r and r <= 10) / n,
        n,
    )


def evaluate(index: HybridIndex, items: list[QAItem]) -> list[Scores]:
    """Lexical, dense and fused scores, fused last; one query embedding per question."""
    names = {"lexical": "lexical", "dense": "dense", "fused": "hybrid"}
    ranks: dict[str, list[int | None]] = {name: [] for name in names}
    for item in items:
        rankings = index.rankings(item.question)
        for name, mode in names.items():
            ids = [i for i, _ in index.fuse(rankings, index.mode_weights(mode))[:10]]
            ranks[name].append(first_hit([index.chunks[i].text for i in ids], item.evidence))
    return [score_ranks(name, r) for name, r in ranks.items()]


def sweep(index: HybridIndex, items: list[QAItem]) -> list[tuple[dict, Scores]]:
    """Every fusion setting on the same rankings, best first (recall@1 + recall@5, then MRR)."""
    rankings = [index.rankings(item.question) for item in items]
    weight_grid = [{"stems": s, "chars": c, "dense": d}
                   for s, c, d in itertools.product((0.0, 0.5, 0.9), (0.0, 0.2, 0.35, 0.5), (0.0, 0.1, 0.2, 0.3, 0.5))
                   if s + c + d > 0]
    grid = [{"fusion": "rrf", "rrf_k": k, "weights": w} for k in (5, 10, 20, 60) for w in weight_grid]
    grid += [{"fusion": "weighted", "weights": w} for w in weight_grid]
    results = []
    for setting in grid:
        ranks = [first_hit([index.chunks[i].text for i, _ in index.fuse(r, **setting)[:10]], item.evidence)
                 for r, item in zip(rankings, items, strict=True)]
        results.append((setting, score_ranks("fused", ranks)))
    results.sort(key=lambda sr: (-(sr[1].recall_at_1 + sr[1].recall_at_5), -sr[1].mrr_at_10))
    return results
