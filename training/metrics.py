"""Answer-quality metrics: SQuAD-style token F1 and ROUGE-L (Google's `rouge-score`), both on Spanish
tokens with accents folded, punctuation and citation marks `[n]` dropped; and the paired bootstrap that
says whether one model's mean score beats another's by more than the choice of questions explains; and the
reader of the question files they are computed on."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rouge_score import rouge_scorer

from index.jsonl import iter_jsonl
from index.lexical import fold_accents

from .prompts import split_reasoning

_CITATION = re.compile(r"(?:\bseg[uú]n\s+)?\[\d{1,2}\]:?", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_ARTICLES = {"el", "la", "los", "las", "un", "una", "unos", "unas", "lo"}


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-folded words, without citations and articles (as SQuAD drops English ones)."""
    return [w for w in _WORD.findall(fold_accents(_CITATION.sub(" ", text))) if w not in _ARTICLES]


class _Tokenizer:
    """The interface rouge-score expects; its default one drops every non-ASCII letter."""

    def tokenize(self, text: str) -> list[str]:
        return tokens(text)


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


def answer_text(generated: str) -> str:
    """The part of a generation that is the answer: the final answer of a chain of thought."""
    return split_reasoning(generated)[1] or generated


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    return _ROUGE.score(reference, prediction)["rougeL"].fmeasure


KeyFacts = Sequence[Sequence[str]]
"""The facts a correct answer states: groups of alternatives, e.g. `[["teacher forcing"], ["1997", "noventa"]]`."""


def _fold_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", fold_accents(text))


def keys_found(prediction: str, keys: KeyFacts) -> list[bool]:
    """Per group: does one of its alternatives appear in `prediction` (lower-cased, accents folded, runs of
    whitespace as one space)? A substring test, so a stem («congel») matches its inflections; an alternative
    keeps its own edge spaces, so `" ner"` matches the word NER but not «tener» (the answer is padded with a
    space at each end)."""
    text = f" {_fold_spaces(prediction)} "
    return [any(_fold_spaces(alt) in text for alt in group if alt.strip()) for group in keys]


def key_scores(prediction: str, keys: KeyFacts) -> tuple[float, float]:
    """(correct, share): 1.0 when every group is present (else 0.0), and the share of groups present. A
    question without keys cannot be judged: (nan, nan), left out of the means."""
    if not keys:
        return float("nan"), float("nan")
    found = keys_found(prediction, keys)
    return float(all(found)), sum(found) / len(found)


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) over the same questions, with a bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    @property
    def clear(self) -> bool:
        """The interval lies above zero: `a` beats `b` beyond what resampling the questions explains."""
        return self.low > 0

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 4), "ci": [round(self.low, 4), round(self.high, 4)],
                "confidence": self.confidence, "n": self.n}

    def __str__(self) -> str:
        return f"{self.mean:+.3f} (IC {self.confidence:.0%}: [{self.low:+.3f}, {self.high:+.3f}], n={self.n})"


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                      resamples: int = 10_000, seed: int = 0) -> PairedDifference:
    """How much `a` beats `b` on the same questions: the mean per-question difference and its BCa bootstrap
    interval (scipy.stats.bootstrap over the differences, which is the paired bootstrap). With a score per
    question, a mean difference of 0.03 can be noise or not; the interval says which."""
    from scipy.stats import bootstrap

    if len(a) != len(b):
        raise ValueError(f"paired scores need the same questions: {len(a)} vs {len(b)} scores")
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diffs) == 0:
        raise ValueError("paired_difference needs at least one question")
    mean = float(diffs.mean())
    if len(diffs) < 2 or np.ptp(diffs) == 0:  # every resample has the same mean: the interval is a point
        return PairedDifference(mean, mean, mean, len(diffs), confidence)
    with warnings.catch_warnings():  # BCa warns (and returns NaN) on nearly degenerate samples
        warnings.simplefilter("ignore")
        ci = bootstrap((diffs,), np.mean, n_resamples=resamples, confidence_level=confidence, method="BCa",
                       rng=np.random.default_rng(seed)).confidence_interval
        if not np.isfinite([ci.low, ci.high]).all():
            ci = bootstrap((diffs,), np.mean, n_resamples=resamples, confidence_level=confidence,
                           method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return PairedDifference(mean, float(ci.low), float(ci.high), len(diffs), confidence)


def read_qa(path: str | Path, limit: int | None = None) -> list[dict]:
    """JSON lines with at least {"question": ..., "answer": ...} (the reference answer), in file order; an
    optional "keys" holds the key facts a correct answer states (`key_scores`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"question file not found: {path}")
    rows = []
    for i, row in iter_jsonl(path):
        if "question" not in row or "answer" not in row:
            raise ValueError(f"{path}:{i}: each line needs \"question\" and \"answer\"")
        keys = row.get("keys", [])
        if not (isinstance(keys, list) and all(isinstance(g, list) and g and all(isinstance(a, str) and a.strip()
                                                                               for a in g) for g in keys)):
            raise ValueError(f"{path}:{i}: \"keys\" must be a list of non-empty lists of strings, "
                             f"e.g. [[\"teacher forcing\"], [\"1997\", \"noventa\"]]")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no questions")
    return rows[:limit] if limit else rows
