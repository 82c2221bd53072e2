"""JSON-lines files (question sets, instruction data, training metrics), read one way across the project."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def iter_jsonl(path: str | Path, *, skip_broken: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of `path`.

    A line that is not a JSON object raises ValueError naming `path:line`; with `skip_broken` it is skipped
    instead (a run killed mid-write leaves half a line in its metrics log).
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if skip_broken:
                    continue
                raise ValueError(f"{path}:{lineno}: not JSON ({exc})") from exc
            if not isinstance(row, dict):
                if skip_broken:
                    continue
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row
