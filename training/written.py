"""Training questions written by people over the course corpus: what a student would ask, answered by the
sentence or two of the course that answer it.

The other pairs of `training.data` are made by rules from the corpus's own shape (review items, headings,
definitions), so their questions reuse the passage's words and their answer is a section's opening. The
questions students ask are paraphrases about a fact further in («¿por qué una RNN no necesita más pesos
para frases más largas?»), and a model tuned only on the rule-made pairs learnt to copy the first sentence
of the passage it is shown. These are the missing kind.

A file of them holds one JSON object per line:

    {"question": "...", "answer": "<one or two consecutive sentences, word for word>", "source": "notas/x.md"}

The answer must appear in the named course file as the loaders read it (whitespace and Markdown emphasis
aside), inside one chunk, so the model is always trained to quote what its prompt can show.
`python -m training.written check FILE --docs course --dev tests/data/qa_course.jsonl` reports every line
that breaks a rule, and refuses an answer that holds the evidence of a development question: those stay
unseen by training.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from index.document import Chunk
from index.jsonl import iter_jsonl

from .data import QAPair
from .prompts import passage_body, sentences

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 420
"""Two sentences of the course at most: an answer is not a pasted paragraph."""
_MARKUP = re.compile(r"[*_`]")


def flat(text: str) -> str:
    """Text as a prompt shows it and as answers are matched: one line, no emphasis markers."""
    return " ".join(_MARKUP.sub("", text).split())


@dataclass(frozen=True)
class WrittenQuestion:
    question: str
    answer: str
    source: str
    line: int


class WrittenError(ValueError):
    """A line of a written-questions file that breaks a rule; the message names the file and line."""


def load_written(path: str | Path) -> list[WrittenQuestion]:
    if not Path(path).is_file():
        raise WrittenError(f"written questions file {path} not found (instruct.written names it)")
    rows = []
    for lineno, row in iter_jsonl(path):
        missing = [k for k in ("question", "answer", "source") if not str(row.get(k, "")).strip()]
        if missing:
            raise WrittenError(f"{path}:{lineno}: missing {', '.join(missing)}")
        rows.append(WrittenQuestion(row["question"].strip(), row["answer"].strip(), row["source"].strip(), lineno))
    return rows


def locate(answer: str, source: str, chunks: list[Chunk]) -> tuple[int, str] | None:
    """(index of the first chunk of `source` whose shown body holds `answer`, the answer as written there)."""
    want = flat(answer)
    for i, c in enumerate(chunks):
        if c.source != source:
            continue
        body = " ".join(passage_body(c.text).split())
        plain = flat(body)
        at = plain.find(want)
        if at >= 0:
            return i, _span_in(body, at, len(want))
    return None


def _span_in(body: str, start: int, length: int) -> str:
    """The stretch of `body` (markers kept) that flattens to `flat(body)[start:start + length]`."""
    kept = [i for i, ch in enumerate(body) if not _MARKUP.match(ch)]
    return body[kept[start]: kept[start + length - 1] + 1]


def problems(rows: list[WrittenQuestion], chunks: list[Chunk], dev_evidence: list[str] = (),
             name: str = "written questions") -> list[str]:
    """Every rule a line breaks, as `name:line: reason` (empty when the file is usable)."""
    out, seen = [], {}
    sources = {c.source for c in chunks}
    dev = [flat(e).lower() for e in dev_evidence if len(e) >= 15]
    for r in rows:
        where = f"{name}:{r.line}"
        key = r.question.lower()
        if key in seen:
            out.append(f"{where}: same question as line {seen[key]}")
        seen.setdefault(key, r.line)
        if not r.question.endswith("?") and not r.question.endswith("."):
            out.append(f"{where}: the question should end with «?» (or «.» for a request)")
        if r.source not in sources:
            out.append(f"{where}: source {r.source!r} is not a file of the corpus")
            continue
        if len(flat(r.answer)) > MAX_ANSWER_CHARS or len(sentences(r.answer)) > 2:
            out.append(f"{where}: answer longer than two sentences / {MAX_ANSWER_CHARS} characters")
        if locate(r.answer, r.source, chunks) is None:
            out.append(f"{where}: answer not found word for word in one chunk of {r.source}")
        low = flat(r.answer).lower()
        if any(e in low or (len(low) >= 40 and low in e) for e in dev):
            out.append(f"{where}: answer holds the evidence of a development question (keep those unseen)")
    return out


def written_pairs(rows: list[WrittenQuestion], chunks: list[Chunk], name: str = "written questions") -> list[QAPair]:
    """The rows as question/answer pairs on the chunk that shows each answer (origin 'written').

    A row whose source file is in the corpus but whose answer is not found there is an error naming the line
    (the course file changed under it); rows about files the corpus lacks (training on another folder) are
    skipped with one warning."""
    sources = {c.source for c in chunks}
    pairs, absent = [], 0
    for r in rows:
        if r.source not in sources:
            absent += 1
            continue
        found = locate(r.answer, r.source, chunks)
        if found is None:
            raise WrittenError(f"{name}:{r.line}: answer not found word for word in one chunk of {r.source} "
                               f"(check it with `python -m training.written check {name}`)")
        chunk_id, answer = found
        pairs.append(QAPair(r.question, answer, chunk_id, "written"))
    if absent:
        log.warning("%s: %d of %d questions skipped: their files are not in the corpus", name, absent, len(rows))
    return pairs


def dev_evidence(paths: list[str | Path]) -> list[str]:
    return [e for p in paths for _, row in iter_jsonl(p) for e in row.get("evidence", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.written", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="report every line that breaks a rule")
    check.add_argument("files", nargs="+")
    check.add_argument("--docs", default="course", help="the corpus folder the answers come from")
    check.add_argument("--dev", action="append", default=[], help="a development question file (repeatable)")
    args = parser.parse_args(argv)
    from .corpus import corpus_chunks, load_corpus

    chunks = corpus_chunks(load_corpus(args.docs))
    evidence = dev_evidence(args.dev)
    bad = 0
    for f in args.files:
        try:
            rows = load_written(f)
        except (WrittenError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        found = problems(rows, chunks, evidence, name=f)
        bad += len(found)
        for line in found:
            print(line)
        print(f"{f}: {len(rows)} questions, {len(found)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
