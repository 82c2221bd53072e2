"""Answer-quality metrics: SQuAD-style token F1 and ROUGE-L (Google's `rouge-score`), both on Spanish
tokens with accents folded, punctuation and citation marks `[n]` dropped."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from rouge_score import rouge_scorer

from .prompts import split_reasoning

_CITATION = re.compile(r"(?:\bseg[uú]n\s+)?\[\d{1,2}\]:?", re.IGNORECASE)
_WORD = re.compile(r"\w+")
_ARTICLES = {"el", "la", "los", "las", "un", "una", "unos", "unas", "lo"}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-folded words, without citations and articles (as SQuAD drops English ones)."""
    return [w for w in _WORD.findall(_fold(_CITATION.sub(" ", text))) if w not in _ARTICLES]


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
