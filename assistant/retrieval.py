"""Passages for a question, in the shape the UI and the prompts need."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index import HybridIndex, SearchResult

DEFAULT_INDEX = Path(os.environ.get("COURSE_INDEX", "artifacts/index"))


@dataclass
class Passage:
    number: int
    """1-based: the `[n]` an answer cites."""
    text: str
    source: str
    heading: str
    location: str
    score: float

    @classmethod
    def from_result(cls, result: SearchResult) -> Passage:
        c = result.chunk
        if c.page is not None:
            location = f"p. {c.page}"
        elif c.slide is not None:
            location = f"diapositiva {c.slide}"
        else:
            location = ""
        return cls(result.rank, c.text, c.source, " › ".join(c.heading_path), location, result.score)


def retrieve(index: HybridIndex, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
    return [Passage.from_result(r) for r in index.search(question, k=k, mode=mode)]
