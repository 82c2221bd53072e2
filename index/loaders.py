"""One loader per file format: bytes on disk -> `Document` (plain text + structure).

Parsing is left to the libraries made for each format (pypdf, python-docx, python-pptx,
BeautifulSoup, charset-normalizer, PyYAML). What is written here is only the Obsidian dialect of
Markdown, which no library reduces to the text a reader sees.

Every failure a user's file can cause raises `LoadError` with a one-line reason; the builder turns
it into a warning and keeps going.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from .document import Document


class LoadError(Exception):
    """A file that cannot be indexed; str(exc) is the reason shown to the user."""


# ---------------------------------------------------------------------------- text decoding


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first; otherwise the encoding charset-normalizer detects."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError("undecodable text: not UTF-8 and no other encoding fits")
    text = str(best)
    # Western European text that is not UTF-8 is nearly always cp1252/Latin-1; charset-normalizer
    # sometimes names a Cyrillic or Greek code page for short Spanish files.
    if best.encoding not in ("cp1252", "latin_1", "iso8859_15", "utf_16", "utf_16_le", "utf_16_be"):
        latin = data.decode("cp1252", errors="replace")
        if latin.count("\ufffd") == 0 and _spanish_score(latin) > _spanish_score(text):
            text = latin
    return text


def _spanish_score(text: str) -> int:
    return sum(text.count(c) for c in "áéíóúñÁÉÍÓÚÑ¿¡ ")


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------- Markdown / Obsidian

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_EMBED = re.compile(r"!\[\[[^\]]*\]\]")  # ![[image.png]], ![[Note#Section]]
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_WIKILINK = re.compile(r"\[\[([^\]|#]*)(?:#([^\]|]*))?(?:\|([^\]]*))?\]\]")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_COMMENTS = re.compile(r"%%.*?%%|<!--.*?-->", re.S)
_CALLOUT = re.compile(r"^>\s*\[![\w-]+\][+-]?\s*", re.M)


def _wikilink_text(m: re.Match) -> str:
    note, section, alias = m.group(1), m.group(2), m.group(3)
    if alias:
        return alias.strip()
    if section and note:
        return f"{note.strip()} > {section.strip()}"
    return (section or note or "").strip()


def clean_markdown(text: str) -> tuple[str, dict]:
    """Obsidian Markdown -> the text a reader sees, plus the front matter.

    Headings stay as `#` lines for the chunker. Embeds are dropped, links keep their visible text,
    emphasis markers go; LaTeX and code are kept verbatim (students search for formulas too).
    """
    text = normalize_newlines(text)
    metadata: dict = {}
    m = _FRONT_MATTER.match(text)
    if m:
        try:
            parsed = yaml.safe_load(m.group(1))
            metadata = parsed if isinstance(parsed, dict) else {}
        except yaml.YAMLError:
            metadata = {}  # a broken header is still text the author did not mean to show
        text = text[m.end() :]
    text = _COMMENTS.sub("", text)
    text = _EMBED.sub("", text)
    text = _MD_IMAGE.sub("", text)
    text = _WIKILINK.sub(_wikilink_text, text)
    text = _MD_LINK.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _CALLOUT.sub("", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n"), metadata


def _first_heading(text: str) -> str | None:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def load_markdown(path: Path, source: str) -> Document:
    text, meta = clean_markdown(decode_text(path.read_bytes()))
    title = str(meta.get("title") or _first_heading(text) or path.stem)
    return Document(text=text, source=source, title=title, metadata=_jsonable(meta))


def load_text(path: Path, source: str) -> Document:
    text = normalize_newlines(decode_text(path.read_bytes()))
    return Document(text=text.strip("\n"), source=source, title=path.stem)


# ---------------------------------------------------------------------------- PDF


def load_pdf(path: Path, source: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing.
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported crypto
                raise LoadError(f"password-protected PDF ({exc})") from exc
            if not ok:
                raise LoadError("password-protected PDF: cannot read without the password")
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, OSError, TypeError, AttributeError) as exc:
        raise LoadError(f"corrupt PDF: {exc}") from exc
    return _paged_document(pages, source, str(meta_title or path.stem), "page")


# ---------------------------------------------------------------------------- HTML

_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg")
_BLOCK_TAGS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}


def html_to_text(html: str) -> tuple[str, str | None]:
    """Main content of a page as Markdown-like text (h1-h6 -> '#' lines, li -> '- ')."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(list(_BOILERPLATE_TAGS)):
        tag.decompose()
    for tag in soup.select('[role="navigation"], [role="banner"], [role="contentinfo"], [aria-hidden="true"]'):
        tag.decompose()
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    lines: list[str] = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", *_BLOCK_TAGS]):
        if el.find_parent(list(_BLOCK_TAGS)) is not None and el.name != "li":
            continue  # its text comes with the enclosing block
        if el.name == "li" and el.find(["p", "ul", "ol"]):
            # nested structure: the inner blocks carry the text
            own = "".join(s for s in el.find_all(string=True, recursive=False)).strip()
            if own:
                lines.append(f"- {own}")
            continue
        text = " ".join(el.get_text(" ", strip=True).split())
        if not text:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            lines.append("#" * int(el.name[1]) + " " + text)
        elif el.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
    if not lines:  # pages made of bare text in divs
        lines = [ln.strip() for ln in root.get_text("\n").splitlines() if ln.strip()]
    return "\n\n".join(lines), title


def load_html(path: Path, source: str) -> Document:
    text, title = html_to_text(decode_text(path.read_bytes()))
    return Document(text=text, source=source, title=title or _first_heading(text) or path.stem)


# ---------------------------------------------------------------------------- Word / PowerPoint


def load_docx(path: Path, source: str) -> Document:
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # PackageNotFoundError, BadZipFile, lxml errors: all a damaged file
        raise LoadError(f"corrupt Word file: {exc}") from exc
    lines = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif level:
            lines.append("#" * int(level.group(1)) + " " + text)
        elif "List" in style:
            lines.append(f"- {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    props_title = document.core_properties.title
    text = "\n\n".join(lines)
    return Document(text=text, source=source, title=props_title or _first_heading(text) or path.stem)


def load_pptx(path: Path, source: str) -> Document:
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as exc:  # BadZipFile, KeyError, lxml errors: all mean a damaged file
        raise LoadError(f"corrupt PowerPoint file: {exc}") from exc
    slides = []
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
        lines = [f"## {title}"] if title else []
        for shape in slide.shapes:
            if shape is title_shape or not shape.has_text_frame:
                continue
            for para in shape.text_frame.paragraphs:
                text = "".join(run.text for run in para.runs).strip()
                if text:
                    lines.append(f"- {text}" if para.level > 0 or len(lines) > 0 else text)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame.text.strip() if slide.notes_slide.notes_text_frame else ""
            if notes:
                lines.append(notes)
        slides.append((number, "\n\n".join(lines)))
    title = deck.core_properties.title or path.stem
    return _paged_document(slides, source, title, "slide")


def _paged_document(parts: list[tuple[int, str]], source: str, title: str, kind: str) -> Document:
    """Join pages/slides with blank lines, remembering where each one lies in the text."""
    text, locations = "", []
    for number, part in parts:
        part = normalize_newlines(part).strip()
        if not part:
            continue
        if text:
            text += "\n\n"
        locations.append((len(text), len(text) + len(part), number))
        text += part
    return Document(text=text, source=source, title=title, locations=locations, location_kind=kind)


def _jsonable(meta: dict) -> dict:
    """Front matter may hold dates; keep only what JSON can store."""
    out = {}
    for k, v in meta.items():
        out[str(k)] = v if isinstance(v, (str, int, float, bool, list, type(None))) else str(v)
    return out


# ---------------------------------------------------------------------------- dispatch

LOADERS: dict[str, Callable[[Path, str], Document]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".pdf": load_pdf,
    ".html": load_html,
    ".htm": load_html,
    ".docx": load_docx,
    ".pptx": load_pptx,
}
SUPPORTED_SUFFIXES = tuple(LOADERS)
"""The file types the indexer reads (and the app accepts as uploads): one list, the loaders'."""


def load_document(path: Path, source: str, max_bytes: int | None = None) -> Document:
    """Load any supported file; raises LoadError (never anything else) for a bad file."""
    suffix = path.suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        raise LoadError(f"unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read: {exc}") from exc
    if size == 0:
        raise LoadError("empty file")
    if max_bytes is not None and size > max_bytes:
        raise LoadError(f"file too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB; see max_file_mb)")
    try:
        doc = loader(path, source)
    except LoadError:
        raise
    except (OSError, MemoryError, RecursionError) as exc:
        raise LoadError(f"cannot read: {exc}") from exc
    if not doc.text.strip():
        raise LoadError("no text extracted (empty document, or a scanned PDF with no text layer)")
    return doc
