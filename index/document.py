"""The two records the indexer passes around: a loaded `Document` and a retrievable `Chunk`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    """Plain text of one file, as the loaders produce it.

    Markdown headings survive as `#` lines (HTML and Word headings are turned into them too), so the
    chunker sees one structure whatever the source format.
    """

    text: str
    source: str
    """Path relative to the documents folder, with forward slashes."""
    title: str
    metadata: dict = field(default_factory=dict)
    locations: list[tuple[int, int, int]] = field(default_factory=list)
    """(start_char, end_char, number) of each page (PDF) or slide (PPTX) in `text`."""
    location_kind: str | None = None
    """'page' or 'slide' when `locations` is filled."""

    def location_at(self, char: int) -> int | None:
        for start, end, number in self.locations:
            if start <= char < end:
                return number
        return None


@dataclass
class Chunk:
    text: str
    source: str
    title: str
    heading_path: list[str]
    start: int
    """Character span [start, end) of `text` in the document's plain text."""
    end: int
    page: int | None = None
    slide: int | None = None

    def search_text(self) -> str:
        """What gets embedded and indexed: the context a reader sees, then the passage itself."""
        context = " > ".join([self.title, *self.heading_path])
        return f"{context}\n{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        return cls(**data)
