"""An answer as the app shows it: final text, reasoning apart, citations resolved to passages."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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


_TAG_TEXT = r"(?:[^()\n]|\([^()\n]*\)){0,160}?"  # a tag's text: no line break, one level of «(…)» inside
COPIED_LABEL = re.compile(
    r"[ \t]*\((?:fuente:[^)\n]*\)?"  # the tag as the prompt writes it
    rf"|{_TAG_TEXT}(?:›|\.(?:md|txt|pdf|html?|docx|pptx)\b){_TAG_TEXT}(?:\)|(?=\n)|$))"  # or misspelt
    r"(?:\s+trata \w+ ese tema\.?)?")
"""A passage's source tag as the prompt writes it («[n]: … (fuente: notas/lora.md › QLoRA)»), copied into an
answer by a model that quotes a passage to its end, with what the student's chain-of-thought examples say after it
(«El pasaje [n] (…) trata justamente ese tema.»). A file path is no part of an answer; its citation shows the
source. The student also copies it misspelt («(fuuntas/rnn-y-lstm.md › La RNN simple (Elman)) trata precisamente
ese tema.»: 14 of its 95 `course/` answers with the 500-character windows), so any parenthesis holding the
label's «›» or a document's file name counts, closed or ending the line or answer."""


def without_copied_labels(text: str) -> str:
    """`text` without the source tags a model copied from its prompt (`COPIED_LABEL`)."""
    return COPIED_LABEL.sub("", text).strip()


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
    final = without_copied_labels(final)
    return Answer(variant, final, reasoning, list(passages), resolve_citations(raw, passages), stats,
                  steps or [], notices, raw=raw, cot=cot)


RANK_PENALTY = 0.5
"""Per rank below the first passage, in units of the question's mean stem weight."""
LENGTH_NORM = 0.5
"""A sentence's score is divided by 1 + LENGTH_NORM * words / 25: a run-on slide line matching three words
among eighty should not beat a short sentence matching the same three."""
SECOND_MIN = 0.3
"""A second sentence joins when its own score is at least this share of the best one's."""
SHORT_WORDS = 15
"""A chosen sentence shorter than this (or ending in «:», a list's label) brings the next one along
(`_followers`)."""
_ANAPHORA = re.compile(r"(?:Est|Es|Dich)[aeo]s?\b|Tal(?:es)?\b|Ello\b|Así\b")
"""A sentence opening with a demonstrative («Esta técnica se llama teacher forcing.») names what the sentence
before it said: that one comes first."""
_ENUMERATOR = re.compile(r"(?:[-•○▪*o]\s*)*(?:\d{1,2}[.)]|[a-z][.)])?(?:\s*[-•○▪*o])*")
"""A list's number or bullet standing alone («2.», «- 3.», «•»): slide and review-sheet lists number their items
on a line of their own, which the sentence splitter keeps as a unit."""


_NUMBER_MARK = re.compile(r"(?:[-•○▪*]\s*)*(\d{1,2})[.)]")
"""A numbered list's number standing alone («2.», «- 3.»): what `numbered_list` groups."""
_BULLET = re.compile(r"^(?:[-•○▪*]\s+)+(?:o\s+)?")
"""The bullets a slide or a pasted document puts before a list item's text («- o Evalúa…»)."""
LIST_WORDS = 60
"""A numbered list this short is answered whole when the chosen sentence is one of its items (`numbered_list`)."""


def numbered_list(units: Sequence[str], at: int) -> tuple[int, int] | None:
    """(start, end): the span of `units` (a passage's `sentences`) holding the numbered list that `units[at]` is
    an item of (its label first when that ends in «:»), when it has at least two items numbered 1, 2, …; else
    None. The last item is as long as the longest other one: the list's end is not marked in the passage's
    flattened text."""
    runs: list[list[int]] = []
    last = 0  # the number of the last item of the last run
    for i, u in enumerate(units):
        if not (mark := _NUMBER_MARK.fullmatch(u)):
            continue
        number = int(mark.group(1))
        if runs and number == last + 1 and i - runs[-1][-1] <= 4:  # an item: its number, label, a sentence or two
            runs[-1].append(i)
        elif number == 1:
            runs.append([i])
        else:
            continue
        last = number
    for run in runs:
        if len(run) < 2:
            continue
        span = max(b - a for a, b in zip(run, run[1:], strict=False))
        end = next((j for j in range(run[-1] + 1, min(len(units), run[-1] + span))
                    if units[j].endswith("?") or _NUMBER_MARK.fullmatch(units[j])), min(len(units), run[-1] + span))
        if run[0] < at < end:
            return (run[0] - 1 if run[0] and units[run[0] - 1].endswith(":") else run[0]), end
    return None


def _whole_lists(chosen: Sequence[_Candidate]) -> dict[tuple[int, tuple[int, int]], str]:
    """(rank, span) -> the list, one item a line («Tipos de Positional Embeddings:», «1. Fijos (senos y cosenos):
    …», «2. Aprendibles: …»; bullets gone, numbers kept), for each numbered list (`numbered_list`) of at most
    LIST_WORDS words that a chosen sentence is an item of. A review answer or a slide often answers with a short list
    («¿Qué métricas…?»: perplexity, BLEU, ROUGE, one item each) whose sentence most like the question is a
    single item: the answer is the list."""
    out = {}
    for c in chosen:
        if span := numbered_list(c.units, c.at):
            lines: list[list[str]] = [[]]
            for u in c.units[span[0]:span[1]]:
                if (mark := _NUMBER_MARK.fullmatch(u)) and lines[-1]:
                    lines.append([])
                lines[-1].append(f"{mark.group(1)}." if mark else _BULLET.sub("", u))
            text = "\n".join(" ".join(line) for line in lines)  # one item a line: Markdown shows a list
            if len(text.split()) <= LIST_WORDS:
                out[(c.rank, span)] = text
    return out


class _Candidate(NamedTuple):
    score: float
    rank: int
    """0-based rank of its passage."""
    position: int
    """Its index among the passage's sentences (`parts`)."""
    parts: list[str]
    number: int
    """The passage's `[n]`."""
    matched: set[str]
    """The question's content stems it contains."""
    units: list[str]
    """The passage's `sentences`, list numbers included (`numbered_list` reads them)."""
    at: int
    """Its index among `units`."""


def _followers(c: _Candidate, taken: set[tuple[int, int]]) -> list[str]:
    """What a short chosen sentence or a list's label brings from its passage: the next sentence, and when
    that one is itself a label («RAG (Retrieval-Augmented Generation):»), the item it labels; never a
    review question's own line or a sentence the answer already holds."""
    out: list[str] = []
    for i in range(c.position + 1, min(c.position + 3, len(c.parts))):
        follower = c.parts[i]
        if follower.endswith("?") or (c.rank, i) in taken:
            break
        out.append(follower)
        if not follower.endswith(":"):
            break
    return out


def extractive_answer(question: str, passages: Sequence[Passage], notices: list[str] | None = None,
                      idf: Mapping[str, float] | None = None, max_passages: int = 3) -> Answer:
    """No model needed: the sentence or two of the top passages that best answer the question, each cited.

    A sentence scores the question's content stems it contains (the index's Spanish analyzer: accents
    folded, stopwords and question words dropped, Snowball stems), each weighted by its `idf` over the
    index (1 without one), divided by a mild length norm, minus a penalty per passage rank. The best
    sentence is the answer; the second is the one that adds the most question stems the first lacks
    (plus half its own score), kept when its own score is at least SECOND_MIN of the best's. A short
    chosen sentence, or one ending in «:», brings the sentence after it (and, when that one is a label, the
    item it labels); one opening with a demonstrative («Esta técnica se llama…») brings the one before it
    instead. A list's number standing alone is no sentence; a chosen item of a short numbered list brings the
    whole list (`_whole_lists`). The best sentence comes first, or both in their passage's order when they come
    from one passage. The constants were chosen on the 387 people-written training questions
    (`training/questions/course.jsonl`), not on the dev sets they are reported on (README, "The extractive
    answer"); the list rule changes none of those questions' outcomes (their notes have few numbered lists)."""
    terms = set(content_stems(question))
    weight = {t: (idf or {}).get(t, 1.0) for t in terms}
    penalty = RANK_PENALTY * sum(weight.values()) / max(1, len(weight))
    scored = []
    for rank, p in enumerate(passages[:max_passages]):
        units = sentences(p.text)
        # A list's number standing alone is no sentence: as the follower of a short chosen sentence it took the
        # place of the item it numbers («Se mide la similitud entre Q y K. - 3.» instead of «… Softmax: …»).
        at = [j for j, u in enumerate(units) if not _ENUMERATOR.fullmatch(u)]
        parts = [units[j] for j in at]
        for i, sentence in enumerate(parts):
            if sentence.endswith("?"):  # a review question's own line restates, it does not answer
                continue
            matched = terms & set(content_stems(sentence))
            if matched:
                score = sum(weight[t] for t in matched) / (1 + LENGTH_NORM * len(sentence.split()) / 25)
                scored.append(_Candidate(score - penalty * rank, rank, i, parts, p.number, matched, units, at[i]))
    if not scored:
        text = ("No encontré en los pasajes del curso una frase que responda a esta pregunta."
                if passages else "No encontré pasajes del curso para esta pregunta.")
    else:
        scored.sort(key=lambda c: (-c.score, c.rank, c.position))
        best, chosen = scored[0], [scored[0]]
        if rest := [c for c in scored[1:] if c.score >= SECOND_MIN * best.score]:
            chosen.append(max(rest, key=lambda c: (sum(weight[t] for t in c.matched - best.matched)
                                                   - penalty * c.rank + 0.5 * c.score)))
        if chosen[-1].rank == best.rank:
            chosen.sort(key=lambda c: c.position)
        taken = {(c.rank, c.position) for c in chosen}
        lists = _whole_lists(chosen)
        pieces: list[tuple[str, bool]] = []  # (text, whether it is a list)
        said = set()
        for c in chosen:
            if in_list := next((k for k in lists if k[0] == c.rank and k[1][0] <= c.at < k[1][1]), None):
                if in_list not in said:  # the other chosen sentence is in the list too (or is its label): once
                    said.add(in_list)
                    pieces.append((f"{lists[in_list]} [{c.number}]", True))
                continue
            sentence = c.parts[c.position]
            before = c.parts[c.position - 1] if c.position > 0 else ""
            if (_ANAPHORA.match(sentence) and before and not before.endswith("?")
                    and (c.rank, c.position - 1) not in taken):
                sentence = f"{before} {sentence}"
            elif len(sentence.split()) < SHORT_WORDS or sentence.endswith(":"):
                sentence = " ".join([sentence, *_followers(c, taken)])
            pieces.append((f"{sentence} [{c.number}]", False))
        text = pieces[0][0]
        for (_, after_list), (piece, is_list) in zip(pieces, pieces[1:], strict=False):
            text += ("\n\n" if after_list or is_list else " ") + piece  # a list stands apart as its own paragraph
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
