"""Instruction data built from the corpus: what `training.instruct` tunes on and `training.evaluate` scores.

1. Question/answer pairs, from three sources in the corpus:
   - its own numbered review questions («12. ¿Qué es la autoatención?» + the answer below it);
   - its headings («¿Qué explica el curso sobre Autoatención?» -> the section's opening sentences);
   - its definitions («GPT es un transformer de solo decodificador…» -> «¿Qué es GPT?»).
2. Every pair becomes RAG examples: numbered passages (what the index retrieves for the question, as the app
   would show them, with the passage the answer comes from among them) and the answer citing it as `[n]`.
3. A share become chain-of-thought examples (`Razonamiento:` steps, then `Respuesta final:`), and a few
   become unanswerable ones (no passage holds the answer -> the model says so).

The split into train / held-out is by question pair, so no held-out question (in any format) is trained on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from index.document import Chunk

from .prompts import (
    NOT_FOUND,
    PromptPassage,
    chat_messages,
    cite,
    cot_answer,
    focus,
    passage_label,
    sentences,
)

QUESTION_ITEM = re.compile(r"^\s*\d{1,3}[.)]\s+(?P<q>.*\?)\s*$")
DEFINITION = re.compile(
    r"^(?:(?:El|La|Los|Las)\s+)?(?P<term>[^\s,.;:()]+(?:\s+[^\s,.;:()]+){0,3}?)\s+"
    r"(?P<verb>es|son)\s+(?:un|una|el|la|los|las|lo)\s"
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿«(])")
WHY = re.compile(r"^(?P<a>[A-ZÁÉÍÓÚÑ][^?;:$«»()]{15,140}?),?\s+(?:porque|ya que)\s+\S")
HOW = re.compile(r"^(?P<x>[A-ZÁÉÍÓÚÑ][^,;:$?«»()]{3,80}?)\s+se\s+(?P<v>calcula|define|obtiene|entrena|mide|construye|elige)\b")
HEADING_TEMPLATES = [
    "¿Qué explica el curso sobre {h}?",
    "¿Qué se dice en el curso acerca de {h}?",
    "Explícame {h}.",
    "Resume el tema «{h}».",
]
SKIP_HEADINGS = {"comparación rápida", "resumen", "referencias", "lecturas", "ejemplo", "ejercicios"}


@dataclass
class QAPair:
    question: str
    answer: str
    chunk_id: int
    origin: str
    """'review' (the corpus's own Q&A), 'heading', 'definition', 'later' (a sentence further in) or 'written'
    (a question people wrote, `training.written`)."""


@dataclass
class Example:
    kind: str
    """'rag', 'cot' or 'unanswerable'."""
    question: str
    messages: list[dict]
    answer: str
    """Target text the model learns to write (after the chat template's assistant prefix)."""
    reference: str
    """The plain answer (no citations, no reasoning): what answer F1 and ROUGE-L compare with."""
    origin: str
    passages: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _sentences(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines()]
    body = " ".join(ln for ln in lines if ln and not ln.startswith("#") and not ln.startswith("|"))
    body = re.sub(r"\$[^$]*\$", "", body)
    body = re.sub(r"\s+", " ", body).strip()
    return [s.strip() for s in SENTENCE_END.split(body) if len(s.strip()) > 20]


def lead(text: str, max_chars: int = 260) -> str:
    """The opening sentences of a passage, up to `max_chars`: a short, faithful answer."""
    out = ""
    for s in _sentences(text):
        if out and len(out) + len(s) + 1 > max_chars:
            break
        out = f"{out} {s}".strip()
        if len(out) >= max_chars * 0.6:
            break
    return out[: max_chars + 80]


def _lower_first(h: str) -> str:
    """«Autoatención» -> «autoatención», but «LoRA», «RoPE», «GPT» stay as written."""
    word = h.split(" ", 1)[0]
    return h if word[1:] != word[1:].lower() else h[:1].lower() + h[1:]


def _clean_heading(h: str) -> str:
    h = re.sub(r"^\d+[.)]\s*", "", h.strip("# ").strip())
    return h.replace("$", "")


def _fill(template: str, h: str) -> str:
    q = template.format(h=_lower_first(h))
    return q.replace(" de el ", " del ").replace(" a el ", " al ")


def _body_after_question(text: str) -> str:
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if QUESTION_ITEM.match(ln):
            return "\n".join(lines[i + 1:])
    return text


def later_question(sentence: str) -> str | None:
    """A question whose answer is `sentence`, for the two shapes that turn into one without a model:
    «A, porque B.» -> «¿Por qué A?» and «X se calcula …» -> «¿Cómo se calcula X?». None otherwise."""
    if "$" in sentence or sentence.startswith("-"):
        return None
    if m := WHY.match(sentence):
        return f"¿Por qué {_lower_first(m.group('a'))}?"
    if m := HOW.match(sentence):
        return f"¿Cómo se {m.group('v')} {_lower_first(m.group('x'))}?"
    return None


def _keyword_question(sentence: str, heading: str) -> str | None:
    """For a sentence no template fits: «Sobre <heading>, ¿qué dice el curso de <word> y <word>?», with its two
    longest words that the heading lacks. An unnatural question, but one only that sentence answers."""
    if "$" in sentence or sentence.startswith("-") or not heading:
        return None
    seen = set(re.findall(r"\w+", heading.lower()))
    words = [w for w in dict.fromkeys(re.findall(r"[a-záéíóúñü]{7,}", sentence.lower())) if w not in seen]
    if len(words) < 2:
        return None
    a, b = sorted(words, key=len, reverse=True)[:2]
    return f"Sobre {_lower_first(heading)}, ¿qué dice el curso de «{a}» y «{b}»?"


def extract_pairs(chunks: list[Chunk], seed: int = 0, answer_chars: int = 260,
                  later_sentences: bool = False) -> list[QAPair]:
    rng = random.Random(seed)
    later_rng = random.Random(seed + 1)  # its own draws: turning `later_sentences` on changes no other pair
    pairs: list[QAPair] = []
    seen_questions: set[str] = set()

    def add(q: str, a: str, cid: int, origin: str) -> None:
        key = q.lower()
        if a and len(a) > 30 and key not in seen_questions:
            seen_questions.add(key)
            pairs.append(QAPair(q, a, cid, origin))

    for cid, c in enumerate(chunks):
        last = c.heading_path[-1] if c.heading_path else ""
        m = QUESTION_ITEM.match(last)
        if m:
            body = _body_after_question(c.text)
            if body.strip():  # continuation chunks of a long answer repeat the question; keep the first
                add(m.group("q"), lead(body, answer_chars), cid, "review")
            continue
        lines = c.text.strip().splitlines() or [""]
        heading, body = (last, c.text) if last else (lines[0], "\n".join(lines[1:]))  # slides: title line
        heading = _clean_heading(heading)
        if heading and heading.lower() not in SKIP_HEADINGS and len(heading) < 80 and c.start == _first_start(
                chunks, c):
            add(_fill(rng.choice(HEADING_TEMPLATES), heading), lead(body, answer_chars), cid, "heading")
        for s in _sentences(c.text):
            d = DEFINITION.match(s)
            if d and len(s) < answer_chars + 60:
                term = d.group("term")
                add(f"¿Qué {d.group('verb')} {_lower_first(term)}?", s, cid, "definition")
        if later_sentences:
            later = [(s, later_question(s) or _keyword_question(s, heading)) for s in _sentences(c.text)[1:]
                     if 60 <= len(s) < answer_chars + 60]
            later = [(s, q) for s, q in later if q]
            if later:  # one per chunk, so they do not crowd out the other kinds
                s, q = later_rng.choice(later)
                add(q, s, cid, "later")
    return pairs


def _first_start(chunks: list[Chunk], chunk: Chunk) -> int:
    """Start of the first chunk of the same section (a long section spans several chunks)."""
    same = [c.start for c in chunks if c.source == chunk.source and c.heading_path == chunk.heading_path]
    return min(same) if same else chunk.start


def _passage(number: int, chunk: Chunk, text: str | None = None) -> PromptPassage:
    return PromptPassage(number, text or chunk.text, passage_label(chunk.source, chunk.heading_path), as_is=bool(text))


def later_window(pair: QAPair, gold: Chunk, max_chars: int, rng: random.Random) -> str | None:
    """The gold passage as a 'later' pair's prompt shows it: opening one or two sentences before the answer
    (what `focus` would show first is the answer itself, since the question is made of its words), within
    `max_chars`, so the answer is in the window but not its first sentence. None when it does not fit."""
    parts = sentences(gold.text)
    at = next((i for i, p in enumerate(parts) if _squash(pair.answer)[:60] in _squash(p)), None)
    if not at:
        return None
    max_chars -= 2  # room for the «… » that marks a cut opening
    for back in sorted({rng.randint(1, 2), 1}, reverse=True):
        lo = max(0, at - back)
        shown = " ".join(parts[lo:at + 1])
        if len(shown) > max_chars:
            continue
        for nxt in parts[at + 1:]:
            if len(shown) + 1 + len(nxt) > max_chars:
                break
            shown += " " + nxt
        return shown if lo == 0 else f"… {shown}"
    return None


def written_window(pair: QAPair, gold: Chunk, max_chars: int, rng: random.Random) -> tuple[bool, str | None]:
    """How a written pair's answering passage is shown: (usable, window). The window is None when the app's own
    view of the passage (`focus` on the question) already shows the answer; otherwise it opens zero to two
    sentences before the answer, so the model learns that an answer can sit anywhere in what it reads, not
    only at the top. Unusable when the answer alone is longer than a passage's window."""
    if _squash(pair.answer) in _squash(focus(gold.text, pair.question, max_chars)):
        return True, None
    if len(pair.answer) > max_chars - 2:
        return False, None
    parts = sentences(gold.text)
    head = _squash(pair.answer)[:40]
    at = next((i for i, p in enumerate(parts) if head in _squash(p) or _squash(p) in _squash(pair.answer)), None)
    if at is None:
        return False, None
    lo = max(0, at - rng.randint(0, 2))
    while lo < at and len(" ".join(parts[lo:at]) + " " + pair.answer) > max_chars - 2:
        lo += 1
    shown = " ".join(parts[lo:at]) + (" " if lo < at else "") + pair.answer
    for nxt in parts[at + 1:]:
        if _squash(nxt) in _squash(pair.answer):
            continue
        if len(shown) + 1 + len(nxt) > max_chars - 2:
            break
        shown += " " + nxt
    return True, (shown if lo == 0 else f"… {shown}")


def _distractors(chunks: list[Chunk], gold: Chunk, n: int, rng: random.Random) -> list[Chunk]:
    pool = [c for c in chunks if c.source != gold.source]
    return rng.sample(pool, min(n, len(pool)))


def _same(a: Chunk, b: Chunk) -> bool:
    return a.source == b.source and (a.start == b.start or a.text == b.text)


def _context(gold: Chunk, chunks: list[Chunk], retrieved: list[Chunk] | None, n: int, keep_order: bool,
             rng: random.Random) -> tuple[list[Chunk], int]:
    """(n passages, index of the gold one). With `retrieved` (what the index returns for the question),
    its other chunks are the distractors and, when `keep_order`, the gold passage keeps its retrieved rank;
    otherwise distractors come from other files and the gold passage goes to a random position."""
    if retrieved is None:
        ctx = _distractors(chunks, gold, n - 1, rng)
    else:
        ranked = retrieved[:n]
        rank = next((i for i, c in enumerate(ranked) if _same(c, gold)), None)
        if keep_order and rank is not None:
            return ranked, rank
        ctx = [c for c in retrieved if not _same(c, gold)][: n - 1]
        if len(ctx) < n - 1:
            ctx += _distractors([c for c in chunks if not any(_same(c, x) for x in ctx)], gold, n - 1 - len(ctx), rng)
    pos = rng.randrange(len(ctx) + 1)
    ctx.insert(pos, gold)
    return ctx, pos


def make_examples(pairs: list[QAPair], chunks: list[Chunk], num_passages: int, max_passage_chars: int,
                  seed: int = 0, cot_share: float = 0.5, unanswerable_share: float = 0.1,
                  variants: int = 1, retrieve: Callable[[str], list[Chunk]] | None = None,
                  citation: str = "lead") -> list[Example]:
    """`variants` RAG examples per pair.

    With `retrieve` (question -> the index's best chunks), the first variant's passages are exactly what
    the app would show (the answering passage at its retrieved rank, or put in at random when the index
    missed it), and the others move the answering passage among the same retrieved distractors: the model
    learns the contexts it is scored on, and still has to find the passage that answers. Without it, the
    distractors come from other files and the answering passage is at a random position."""
    rng = random.Random(seed)
    examples: list[Example] = []
    for pair in pairs:
        gold = chunks[pair.chunk_id]
        retrieved = retrieve(pair.question) if retrieve else None
        window = later_window(pair, gold, max_passage_chars, rng) if pair.origin == "later" else None
        if pair.origin == "later" and window is None:
            continue
        if pair.origin == "written":
            usable, window = written_window(pair, gold, max_passage_chars, rng)
            if not usable:
                continue
        for v in range(variants):
            ctx, pos = _context(gold, chunks, retrieved, num_passages, v == 0, rng)
            passages = [_passage(i, c, window if i == pos + 1 else None) for i, c in enumerate(ctx, 1)]
            n = pos + 1
            cited = cite(pair.answer if window else visible_answer(pair, gold, max_passage_chars), n, citation)
            examples.append(_example("rag", pair, passages, cited, False, max_passage_chars))
        if rng.random() < cot_share:
            steps = [f"La pregunta es: {pair.question}",
                     f"El pasaje [{n}] ({passages[pos].label}) trata justamente ese tema."]
            if len(passages) > 1:
                others = ", ".join(f"[{p.number}]" for p in passages if p.number != n)
                steps.append(f"Los pasajes {others} hablan de otros temas, así que no los uso.")
            steps.append(f"La respuesta sale del pasaje [{n}].")
            examples.append(_example("cot", pair, passages, cot_answer(steps, cited), True, max_passage_chars))
        if rng.random() < unanswerable_share:
            others = _distractors(chunks, gold, num_passages, rng)
            others = [c for c in others if c.source != gold.source][:num_passages]
            ps = [_passage(i, c) for i, c in enumerate(others, 1)]
            ex = _example("unanswerable", pair, ps, NOT_FOUND, False, max_passage_chars)
            ex.reference = NOT_FOUND
            examples.append(ex)
    return examples


def visible_answer(pair: QAPair, gold: Chunk, max_passage_chars: int, max_sentences: int = 2) -> str:
    """The answer as the model can quote it: the pair's answer when the prompt shows it (`focus` picks what of
    a long passage is shown), else the first sentences of what is shown, which start at the sentence that
    matches the question best. A target the model cannot see teaches it to make text up."""
    shown = focus(gold.text, pair.question, max_passage_chars)
    if _squash(pair.answer)[:60] in _squash(shown):
        return pair.answer
    said = [s for s in sentences(shown.removeprefix("… ")) if not s.endswith("?")]  # not a question's own line
    return " ".join(said[:max_sentences]).removesuffix(" …")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _example(kind: str, pair: QAPair, passages: list[PromptPassage], answer: str, cot: bool,
             max_passage_chars: int) -> Example:
    return Example(
        kind=kind, question=pair.question,
        messages=chat_messages(pair.question, passages, cot=cot, max_passage_chars=max_passage_chars),
        answer=answer, reference=pair.answer, origin=pair.origin,
        passages=[{"number": p.number, "label": p.label, "text": p.text} for p in passages],
    )


def split_pairs(pairs: list[QAPair], held_out: float, seed: int) -> tuple[list[QAPair], list[QAPair]]:
    """Held-out pairs drawn from every origin in proportion, so the evaluation covers all three kinds."""
    rng = random.Random(seed)
    train, held = [], []
    for origin in sorted({p.origin for p in pairs}):
        group = [p for p in pairs if p.origin == origin]
        rng.shuffle(group)
        k = max(1, round(len(group) * held_out)) if len(group) > 2 else 0
        held += group[:k]
        train += group[k:]
    return train, held
