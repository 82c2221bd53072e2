"""An answer as the app shows it: final text, reasoning apart, citations resolved to passages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from training.prompts import cited_numbers, split_reasoning

from .generation import GenerationStats, TokenStep
from .retrieval import Passage


@dataclass
class Citation:
    number: int
    passage: Passage | None
    """None when the answer cites a passage it was not given (flagged in the UI)."""

    @property
    def valid(self) -> bool:
        return self.passage is not None

    def where(self) -> str:
        if self.passage is None:
            return f"[{self.number}] no corresponde a ningún pasaje dado"
        return f"[{self.number}] {self.passage.where}"


@dataclass
class Answer:
    variant: str
    text: str
    """The final answer (after `Respuesta final:` when chain of thought is on)."""
    reasoning: str = ""
    passages: list[Passage] = field(default_factory=list)
    """The passages the model was given, in prompt order."""
    citations: list[Citation] = field(default_factory=list)
    stats: GenerationStats | None = None
    steps: list[TokenStep] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """Spanish notes for the reader (question truncated, not in Spanish, passages dropped…)."""
    error: str | None = None
    raw: str = ""
    extractive: bool = False
    """True when no model produced it: the retrieved passages stand in as the answer."""

    @property
    def invalid_citations(self) -> list[int]:
        return [c.number for c in self.citations if not c.valid]

    @property
    def has_valid_citation(self) -> bool:
        return any(c.valid for c in self.citations) and not self.invalid_citations

    def cited_passages(self) -> list[Passage]:
        return [c.passage for c in self.citations if c.passage is not None]


def resolve_citations(text: str, passages: Sequence[Passage]) -> list[Citation]:
    """Every `[n]` in the text, in order of first appearance, mapped to the passage numbered n."""
    by_number = {p.number: p for p in passages}
    return [Citation(n, by_number.get(n)) for n in cited_numbers(text)]


def assemble_answer(variant: str, raw: str, passages: Sequence[Passage], cot: bool,
                    stats: GenerationStats | None = None, steps: list[TokenStep] | None = None,
                    notices: list[str] | None = None) -> Answer:
    reasoning, final = split_reasoning(raw) if cot else ("", raw.strip())
    if cot and not final and reasoning:
        # The model never wrote "Respuesta final:"; show what it wrote rather than nothing.
        final, reasoning = reasoning, ""
    return Answer(variant, final, reasoning, list(passages), resolve_citations(raw, passages), stats,
                  steps or [], list(notices or []), raw=raw)


def extractive_answer(passages: Sequence[Passage], notices: list[str] | None = None, sentences: int = 2) -> Answer:
    """No model available: the first sentences of the best passages, each cited."""
    parts = []
    for p in passages[:3]:
        lead = _first_sentences(p.text, sentences)
        if lead:
            parts.append(f"{lead} [{p.number}]")
    text = "\n\n".join(parts) if parts else "No encontré pasajes del curso para esta pregunta."
    answer = assemble_answer("extractivo", text, passages, cot=False, notices=notices)
    answer.extractive = True
    return answer


def _first_sentences(text: str, n: int) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    flat = " ".join(" ".join(lines).split())
    out, rest = [], flat
    while rest and len(out) < n:
        cut = rest.find(". ")
        if cut < 0:
            out.append(rest)
            break
        out.append(rest[: cut + 1])
        rest = rest[cut + 2:]
    return " ".join(out)


def highlight(passage_text: str, answer_text: str, min_words: int = 4) -> str:
    """Markdown of the passage with the stretches the answer repeats (runs of >= min_words words) in bold,
    so the reader sees which part of the source the answer rests on. Line breaks are kept."""
    answer_words = {_norm(w) for w in answer_text.split()}
    return "\n".join(_highlight_line(line, answer_words, min_words) for line in passage_text.splitlines())


def _highlight_line(line: str, answer_words: set[str], min_words: int) -> str:
    words = line.split(" ")
    marks = [bool(_norm(w)) and _norm(w) in answer_words for w in words]
    out, i = [], 0
    while i < len(words):
        j = i
        while j < len(words) and marks[j]:
            j += 1
        if j - i >= min_words:
            out.append("**" + " ".join(words[i:j]) + "**")
            i = j
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def _norm(word: str) -> str:
    return word.lower().strip(".,;:()«»\"'*[]¿?¡!")
