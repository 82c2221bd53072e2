"""An answer as the app shows it: final text, reasoning apart, citations resolved to passages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from training.prompts import cited_numbers, content_stems, sentences, split_reasoning

from .generation import GenerationStats, TokenStep
from .retrieval import Passage

SUPPORT_MIN = 0.6
"""Share of the citing text's content words that must be in the cited passage for «respaldado»."""
_NUMBER = re.compile(r"\[(\d+)\]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
_MARKER = re.compile(r"\[\d+\]|\bseg[uú]n\b", re.IGNORECASE)


@dataclass
class Citation:
    number: int
    passage: Passage | None
    """None when the answer cites a passage it was not given (flagged in the UI)."""
    support: float = 0.0
    """How much of what the answer says next to `[n]` is in passage n: the share of that text's content
    stems (the index's Spanish analyzer) found in the passage, the best over the places it is cited.
    Text with fewer than two content words supports nothing."""

    @property
    def valid(self) -> bool:
        return self.passage is not None

    @property
    def supported(self) -> bool:
        return self.valid and self.support >= SUPPORT_MIN

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
    cot: bool = False
    """Chain of thought was asked for: the page shows a reasoning section (with `COT_UNSEPARATED`
    in it when the model did not write its reasoning apart)."""
    """True when no model produced it: the retrieved passages stand in as the answer."""
    context: str = ""
    """What the model was given (passages, characters), in Spanish; empty when no model ran."""

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
    return [Citation(n, by_number.get(n), citation_support(text, n, by_number.get(n))) for n in cited_numbers(text)]


def citation_support(text: str, number: int, passage: Passage | None) -> float:
    """See `Citation.support`. What a `[n]` cites is the sentence on one side of it (never past the
    neighbouring citation): the one it closes («... es la media armónica [2].») or the one it opens
    («Según [1]: ...»); the better supported side counts."""
    if passage is None:
        return 0.0
    in_passage = set(content_stems(passage.text))
    marks = list(_NUMBER.finditer(text))
    best = 0.0
    for i, m in enumerate(marks):
        if int(m.group(1)) != number:
            continue
        before = text[marks[i - 1].end() if i else 0 : m.start()]
        after = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        before = _SENTENCE_BREAK.split(before.rstrip(" .!?"))[-1]  # the sentence the mark closes
        after = _SENTENCE_BREAK.split(after.lstrip(" :.").strip())[0]  # or the one it opens
        for side in (before, after):
            claim = set(content_stems(_MARKER.sub(" ", side)))
            if len(claim) >= 2:
                best = max(best, len(claim & in_passage) / len(claim))
    return best


COT_UNSEPARATED = ("Cadena de pensamiento: el modelo no separó el razonamiento de la respuesta final "
                   "(no escribió «Respuesta final:»), así que se muestra todo como respuesta.")


def assemble_answer(variant: str, raw: str, passages: Sequence[Passage], cot: bool,
                    stats: GenerationStats | None = None, steps: list[TokenStep] | None = None,
                    notices: list[str] | None = None) -> Answer:
    reasoning, final = split_reasoning(raw) if cot else ("", raw.strip())
    notices = list(notices or [])
    if cot and not final and reasoning:
        # The model never wrote "Respuesta final:"; show what it wrote rather than nothing, and say so:
        # otherwise the CoT toggle looks as if it did nothing.
        final, reasoning = reasoning, ""
        notices.append(COT_UNSEPARATED)
    return Answer(variant, final, reasoning, list(passages), resolve_citations(raw, passages), stats,
                  steps or [], notices, raw=raw, cot=cot)


def extractive_answer(question: str, passages: Sequence[Passage], notices: list[str] | None = None,
                      max_sentences: int = 2) -> Answer:
    """No model needed: the sentences of the top passages that best match the question, each cited.

    A sentence scores the question's content stems it contains (the index's Spanish analyzer: accents
    folded, stopwords and question words dropped, Snowball stems), plus a small bonus for its passage's
    rank; the best one is the answer, and a second one (from any of the top 3 passages) joins it when it
    scores at least three quarters as much."""
    scored = []
    terms = set(content_stems(question))
    for rank, p in enumerate(passages[:3]):
        for sentence in sentences(p.text):
            if sentence.endswith("?"):  # a review question's own line restates, it does not answer
                continue
            overlap = len(terms & set(content_stems(sentence)))
            if overlap:
                scored.append((overlap - 0.25 * rank, rank, sentence, p.number))
    scored.sort(key=lambda s: (-s[0], s[1]))
    chosen = [s for s in scored[:max_sentences] if s[0] >= 0.75 * scored[0][0]]
    chosen.sort(key=lambda s: (s[1], scored.index(s)))
    text = " ".join(f"{sentence} [{n}]" for _, _, sentence, n in chosen)
    if not text:
        text = ("No encontré en los pasajes del curso una frase que responda a esta pregunta."
                if passages else "No encontré pasajes del curso para esta pregunta.")
    answer = assemble_answer(EXTRACTIVE, text, passages, cot=False, notices=notices)
    answer.extractive = True
    return answer


def lead_answer(passages: Sequence[Passage], lead_sentences: int = 2) -> Answer:
    """The earlier floor, kept as a baseline in evaluation: the first sentences of each of the top 3 passages."""
    parts = [f"{' '.join(sentences(p.text)[:lead_sentences])} [{p.number}]" for p in passages[:3]]
    answer = assemble_answer(LEAD, "\n\n".join(parts), passages, cot=False)
    answer.extractive = True
    return answer


EXTRACTIVE = "extractivo"
LEAD = "primeras-frases"


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
