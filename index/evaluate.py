"""Retrieval quality on a question set: recall@1, recall@5 and MRR@10 per retriever.

`sweep` scores every fusion setting on one or more dev sets (each its own index and questions) and
`cross_validate` chooses on one set and reports on the other, which is how the defaults in
`IndexConfig` were chosen: a setting good on every set rather than the optimum of one.

The question file is JSON lines `{"question": ..., "evidence": ["substring", ...]}`; a retrieved
chunk is a hit when its text contains one of the evidence strings (whitespace-normalised).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from .jsonl import iter_jsonl
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
    for lineno, row in iter_jsonl(path):
        try:
            question, evidence = row["question"], row["evidence"]
        except KeyError as exc:
            raise ValueError(f"{path}:{lineno}: expected {{\"question\": ..., \"evidence\": [...]}} "
                             f"(missing {exc})") from exc
        if isinstance(evidence, str):
            evidence = [evidence]
        if not isinstance(question, str) or not isinstance(evidence, list) \
                or not all(isinstance(e, str) for e in evidence):
            raise ValueError(f"{path}:{lineno}: \"question\" must be a string and \"evidence\" a list of strings")
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


FUSION_GRID_WEIGHTS = (0.0, 0.2, 0.35, 0.5, 0.7, 1.0)


def fusion_grid() -> list[dict]:
    """Every fusion setting the sweep scores: RRF at four k, and the weighted min-max mix, over a grid
    of the three rankings' weights (only their ratios matter, so the grid is coarse but wide)."""
    weights = [{"stems": s, "chars": c, "dense": d}
               for s, c, d in itertools.product(FUSION_GRID_WEIGHTS, repeat=3) if s + c + d > 0]
    grid = [{"fusion": "rrf", "rrf_k": k, "weights": w} for k in (5, 10, 20, 60) for w in weights]
    return grid + [{"fusion": "weighted", "weights": w} for w in weights]


def objective(scores: Scores) -> tuple[float, float]:
    """What a setting is chosen by: recall@1 + recall@5, then MRR@10."""
    return scores.recall_at_1 + scores.recall_at_5, scores.mrr_at_10


@dataclass
class DevSet:
    name: str
    index: HybridIndex
    items: list[QAItem]


@dataclass
class SweepResult:
    setting: dict
    scores: dict[str, Scores]
    """Per dev set, same order as the sets given."""

    def worst(self) -> float:
        return min(objective(s)[0] for s in self.scores.values())

    def pooled(self) -> tuple[float, float]:
        """recall@1 + recall@5 and MRR@10 over every question of every set (each question counts once)."""
        n = sum(s.n for s in self.scores.values())
        return (sum(objective(s)[0] * s.n for s in self.scores.values()) / n,
                sum(s.mrr_at_10 * s.n for s in self.scores.values()) / n)

    def label(self) -> str:
        w = self.setting["weights"]
        k = f"k={self.setting['rrf_k']}" if self.setting["fusion"] == "rrf" else ""
        return f"{self.setting['fusion']} {k} stems={w['stems']} chars={w['chars']} dense={w['dense']}".replace("  ", " ")


def sweep(sets: list[DevSet], grid: list[dict] | None = None) -> list[SweepResult]:
    """Every fusion setting scored on every dev set (rankings computed once per question), sorted by
    the pooled objective over all their questions, then the worst set's: the setting chosen fits the
    union of the sets, and `cross_validate` shows how a choice made on one set transfers."""
    rankings = {d.name: [d.index.rankings(item.question) for item in d.items] for d in sets}
    results = []
    for setting in grid or fusion_grid():
        per_set = {}
        for d in sets:
            ranks = [first_hit([d.index.chunks[i].text for i, _ in d.index.fuse(r, **setting)[:10]], item.evidence)
                     for r, item in zip(rankings[d.name], d.items, strict=True)]
            per_set[d.name] = score_ranks("fused", ranks)
        results.append(SweepResult(setting, per_set))
    results.sort(key=lambda r: (-r.pooled()[0], -r.worst(), -r.pooled()[1]))
    return results


def cross_validate(results: list[SweepResult]) -> list[tuple[str, str, SweepResult]]:
    """Choose on one set, report on each other: [(chosen on, reported on, the chosen setting)]. A setting
    that only fits its own set shows here as a drop on the other."""
    names = list(results[0].scores) if results else []
    out = []
    for chosen_on in names:
        best = max(results, key=lambda r: objective(r.scores[chosen_on]))
        out += [(chosen_on, other, best) for other in names if other != chosen_on]
    return out


def format_sweep(results: list[SweepResult], top: int) -> str:
    """The sweep as a person reads it: the most robust settings, then the cross-validation."""
    if not results:
        return "no settings"
    names = list(results[0].scores)
    lines = [f"{len(results)} fusion settings on {len(names)} dev set(s): {', '.join(names)}; "
             "sorted by recall@1 + recall@5 over all their questions"]
    header = f"{'setting':<44}" + "".join(f" {n + ' R@1/R@5/MRR':>28}" for n in names)
    lines.append(header)
    for r in results[:top]:
        cells = "".join(f" {s.recall_at_1:>12.3f}/{s.recall_at_5:.3f}/{s.mrr_at_10:.3f}" for s in r.scores.values())
        lines.append(f"{r.label():<44}{cells}")
    if len(names) > 1:
        lines.append("\ncross-validation (choose on one set, report on the other):")
        for chosen_on, other, best in cross_validate(results):
            own, there = best.scores[chosen_on], best.scores[other]
            lines.append(f"  best on {chosen_on}: {best.label()} -> {chosen_on} R@1 {own.recall_at_1:.3f} R@5 "
                         f"{own.recall_at_5:.3f}; {other} R@1 {there.recall_at_1:.3f} R@5 {there.recall_at_5:.3f}")
        robust = results[0]
        lines.append(f"  best on all (the default): {robust.label()} -> " + "; ".join(
            f"{n} R@1 {s.recall_at_1:.3f} R@5 {s.recall_at_5:.3f}" for n, s in robust.scores.items()))
    return "\n".join(lines)
