"""Passages for a question, in the shape the UI and the prompts need."""

from __future__ import annotations

from dataclasses import dataclass

from index import HybridIndex, SearchResult
from index.chunking import slide_title
from training.prompts import location


@dataclass
class Passage:
    number: int
    """1-based: the `[n]` an answer cites."""
    text: str
    source: str
    heading_path: tuple[str, ...]
    location: str
    score: float
    relevance: float | None = None
    """Cosine to the question (see `index.SearchResult.relevance`)."""

    @classmethod
    def from_result(cls, result: SearchResult) -> Passage:
        c = result.chunk
        return cls(result.rank, c.text, c.source, tuple(c.heading_path), location(c.page, c.slide), result.score,
                   result.relevance)

    @property
    def heading(self) -> str:
        """The heading path; without one, the title of a slide exported as plain text (`index.chunking.slide_title`:
        «Intuición de la atención» right above «- Un traductor humano…»), so the sources list names the slide."""
        return " › ".join(self.heading_path) if self.heading_path else slide_title(self.text)

    @property
    def where(self) -> str:
        """`file · heading path · page/slide`, as the sources list shows it."""
        return " · ".join(x for x in (self.source, self.heading, self.location) if x)


def retrieve(index: HybridIndex, question: str, k: int = 5, mode: str = "hybrid") -> tuple[list[Passage], bool]:
    """(passages, whether the index covers the question at all)."""
    results = index.search(question, k=k, mode=mode)
    return [Passage.from_result(r) for r in results], index.covers(results)
