"""Structure-aware chunking: Document -> Chunks that follow the course's own structure.

Three passes, each simple:
1. `parse_blocks`: lines -> typed blocks (heading, numbered question, slide title, break, text),
   each with its character span in the document.
2. `group_sections`: a section starts at every heading, numbered question («12. ¿Qué es ...?»),
   slide title/break and page or slide boundary; it records the heading path at that point.
   Tiny sections merge forward unless the next one starts at a strong boundary; a section that is
   only a heading always opens the next one (a heading alone is no passage).
3. `pack_section`: a section's blocks (sentences, for long blocks) are packed into chunks of at
   most `max_chars`, the next chunk repeating up to `overlap_chars` of whole sentences.

No splitter library knows "numbered Spanish question starts a chunk and is carried by every piece
of its answer", which is why this one is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import ChunkerConfig
from .document import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_QUESTION = re.compile(r"^\s*(\d{1,3})\s*[.)-]\s*(¿.+|.+\?)\s*$")
_NUMBERED = re.compile(r"^\s*(\d{1,3})\s*[.)-]\s+(\S.{2,150})$")
_BREAK = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,}|\f+)\s*$")
_BULLET = re.compile(r"^\s*(?:[-•*➤▪◦∘+]|\d{1,3}[.)])\s")
_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+(?=[¿¡(\"«A-ZÁÉÍÓÚÑ0-9-])")


@dataclass
class Block:
    kind: str  # heading | question | title | break | text
    start: int
    end: int
    text: str
    level: int = 0


@dataclass
class Section:
    heading_path: list[str]
    strong: bool
    """Started by a Markdown heading (h1-h3) or a numbered question: never merged into the previous one."""
    blocks: list[Block] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.blocks[0].start

    @property
    def end(self) -> int:
        return self.blocks[-1].end

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def heading_only(self) -> bool:
        return all(b.kind in ("heading", "title") for b in self.blocks)


_CODE_LANGUAGES = {"python", "rust", "bash", "shell", "sh", "console", "javascript", "typescript", "json", "java",
                   "c", "cpp", "c++", "go", "sql", "html", "css", "yaml", "r", "text", "plaintext"}


def is_title_line(line: str) -> bool:
    """A lone short line that reads like a slide title (plain-text slide exports have no markup)."""
    s = line.strip()
    if not 3 <= len(s) <= 70 or _BULLET.match(s):
        return False
    if s[-1] in ".,;:" or any(c in s for c in "$=|{}<>"):
        return False
    return s[0].isupper() or s[0] in "¿¡"


def slide_title(text: str) -> str:
    """The title of a chunk of slide text exported without blank lines (a `---` between slides, the title right
    above its bullets), which `parse_blocks` leaves as text: its first line when it reads like a title and the
    next line is a bullet; "" otherwise (a PDF's wrapped line is followed by more prose, not a bullet)."""
    first, _, rest = text.partition("\n")
    return first.strip() if _BULLET.match(rest) and is_title_line(first) else ""


def _is_isolated(lines: list[str], i: int) -> bool:
    """Blank (or a slide break) before, blank after."""
    before = i == 0 or not lines[i - 1].strip() or _BREAK.match(lines[i - 1])
    return bool(before) and (i + 1 >= len(lines) or not lines[i + 1].strip())


def _is_copy_button(lines: list[str], i: int) -> bool:
    """A chat answer's code block copied as text comes as a lone language name («python», sometimes in its own
    fence), then the copy button's label on a line of its own, then the code. That label is a break, not a slide
    title: as a title it named the code's chunk (and its citation) instead of the question the code answers."""
    if len(lines[i].strip()) > 24 or not _is_isolated(lines, i):
        return False
    j = i - 1
    while j >= 0 and lines[j].strip() in ("", "```"):
        j -= 1
    return j >= 0 and lines[j].strip().lower() in _CODE_LANGUAGES


def _continues_questions(line: str, last: int) -> int | None:
    """The item's number when `line` is a numbered prompt that continues the question list (the next
    number, or the one after: a list sometimes skips one), e.g. «8. Enumera las partes de la entrada.»
    after «7. ¿Para qué sirve un codificador?». Answers' own sub-lists («2. Reconstrucción:») restart at 1
    and end with ':'."""
    m = _NUMBERED.match(line)
    if not m or last < 1 or line.rstrip().endswith(":"):
        return None
    number = int(m.group(1))
    return number if last < number <= last + 2 else None


def parse_blocks(text: str, detect_titles: bool) -> list[Block]:
    """Split text into typed blocks. Paragraph = consecutive non-blank lines."""
    blocks: list[Block] = []
    last_question = 0  # number of the latest numbered question
    para_start = para_end = None
    pos = 0
    in_fence = False  # inside ``` code: no line there is a heading, question or title
    lines = text.split("\n")

    def flush() -> None:
        nonlocal para_start, para_end
        if para_start is not None:
            blocks.append(Block("text", para_start, para_end, text[para_start:para_end]))
        para_start = para_end = None

    for i, line in enumerate(lines):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not stripped:
            flush()
            continue
        if in_fence or stripped.startswith("```"):
            pass
        elif m := _HEADING.match(line):
            flush()
            blocks.append(Block("heading", start, end, m.group(2).strip(), level=len(m.group(1))))
            continue
        elif (m := _QUESTION.match(line)) or (
                _is_isolated(lines, i) and _continues_questions(line, last_question)):
            flush()
            last_question = int(m.group(1)) if m else _continues_questions(line, last_question)
            blocks.append(Block("question", start, end, stripped))
            continue
        elif _BREAK.match(line) or _is_copy_button(lines, i):
            flush()
            blocks.append(Block("break", start, end, ""))
            continue
        elif detect_titles and _is_isolated(lines, i) and is_title_line(line):
            flush()
            blocks.append(Block("title", start, end, stripped))
            continue
        if para_start is None:
            para_start = start + (len(line) - len(line.lstrip()))
        para_end = end
    flush()
    return blocks


def group_sections(doc: Document, blocks: list[Block], cfg: ChunkerConfig) -> list[Section]:
    headings: list[tuple[int, str]] = []  # (level, text) of the enclosing Markdown headings
    leaf: str | None = None  # current numbered question or slide title
    sections: list[Section] = []
    current: Section | None = None
    current_location = None

    def path() -> list[str]:
        return [h for _, h in headings] + ([leaf] if leaf else [])

    def open_section(strong: bool) -> Section:
        section = Section(path(), strong)
        sections.append(section)
        return section

    for block in blocks:
        location = doc.location_at(block.start) if doc.locations else None
        new_page = location != current_location
        current_location = location
        if block.kind == "heading":
            headings = [h for h in headings if h[0] < block.level] + [(block.level, block.text)]
            leaf = None
            current = open_section(strong=block.level <= 3)
        elif block.kind == "question":
            leaf = block.text
            current = open_section(strong=True)
        elif block.kind == "title":
            leaf = block.text
            current = open_section(strong=False)
        elif block.kind == "break":
            current = None
            continue
        elif current is None or new_page:
            current = open_section(strong=False)
        current.blocks.append(block)
    sections = [s for s in sections if s.blocks]

    # Merge tiny sections forward (slides with two bullets, a heading directly followed by a
    # sub-heading) so that no chunk is too small to carry meaning.
    merged: list[Section] = []
    for section in sections:
        prev = merged[-1] if merged else None
        if prev is not None and prev.heading_only:
            # A heading alone («# Perplejidad en la práctica 2» right before «## Definición») is no
            # passage: it opens the next section, which keeps its own (deeper) heading path.
            section.blocks[:0] = prev.blocks
            merged[-1] = section
        elif (
            prev is not None
            and prev.size < cfg.min_chars
            and not section.strong
            and section.end - prev.start <= cfg.max_chars
        ):
            prev.blocks.extend(section.blocks)
        else:
            merged.append(section)
    if len(merged) > 1 and merged[-1].heading_only:  # a trailing heading with nothing under it
        merged[-2].blocks.extend(merged.pop().blocks)
    return merged


def _units(block: Block, max_chars: int) -> list[tuple[int, int]]:
    """Spans small enough to pack: the block itself, or its sentences, or word-bounded slices."""
    if block.end - block.start <= max_chars // 2:
        return [(block.start, block.end)]
    spans, cursor = [], block.start
    for m in _SENTENCE_END.finditer(block.text):
        spans.append((cursor, block.start + m.start()))
        cursor = block.start + m.end()
    spans.append((cursor, block.end))
    out = []
    for s, e in spans:
        while e - s > max_chars:  # a "sentence" longer than a chunk: cut at the last space
            cut = block.text.rfind(" ", s - block.start, s - block.start + max_chars)
            cut = block.start + cut if cut > s - block.start else s + max_chars
            out.append((s, cut))
            s = cut + 1
        if e > s:
            out.append((s, e))
    return out


def pack_section(doc: Document, section: Section, cfg: ChunkerConfig) -> list[Chunk]:
    units = [u for b in section.blocks for u in _units(b, cfg.max_chars)]
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        start = units[i][0]
        j = i
        while j + 1 < len(units) and units[j + 1][1] - start <= cfg.max_chars:
            j += 1
        end = units[j][1]
        chunks.append(_make_chunk(doc, section, start, end))
        if j + 1 >= len(units):
            break
        # Next chunk repeats trailing whole units of this one, up to overlap_chars.
        k = j + 1
        while k - 1 > i and end - units[k - 1][0] <= cfg.overlap_chars:
            k -= 1
        i = k
    return chunks


def _make_chunk(doc: Document, section: Section, start: int, end: int) -> Chunk:
    location = doc.location_at(start)
    return Chunk(
        text=doc.text[start:end].strip(),
        source=doc.source,
        title=doc.title,
        heading_path=list(section.heading_path),
        start=start,
        end=end,
        page=location if doc.location_kind == "page" else None,
        slide=location if doc.location_kind == "slide" else None,
    )


def chunk_document(doc: Document, cfg: ChunkerConfig) -> list[Chunk]:
    # Slide-title detection only where the author wrote no Markdown headings (plain-text exports).
    blocks = parse_blocks(doc.text, detect_titles=False)
    if not any(b.kind == "heading" for b in blocks):
        blocks = parse_blocks(doc.text, detect_titles=True)
    sections = group_sections(doc, blocks, cfg)
    return [c for s in sections for c in pack_section(doc, s, cfg) if c.text]
