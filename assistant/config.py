"""Where the runtime reads and writes: one typed configuration, built from the environment once.

The app (`streamlit_app.py`), the command line (`python -m assistant`) and the benches build an
`AppConfig` and hand it to the `Engine`; nothing below reads the environment or holds a path of its own.
The commands a message tells the user to run are built from the same values, so they name the folders
actually in use.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

FALSE = ("0", "false", "no", "off", "")
DECODE_THREADS = 0
"""PyTorch threads that decode after the first token (0: every core). Measured with `assistant bench`: SmolLM2
decoded 1.13-1.18x faster on one thread than on two, Gemma 3 270M (the default lineage) 0.71x, i.e. slower
(README, "Decoding threads")."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None


@dataclass(frozen=True)
class AppConfig:
    index_dir: Path = Path("artifacts/index")
    """The hybrid index the answers are retrieved from (`COURSE_INDEX`)."""
    models_dir: Path = Path("artifacts/models")
    """The trained variants and their report.json (`COURSE_MODELS`)."""
    docs_dir: Path = Path("course")
    """The course folder the index is built from (`COURSE_DOCS`). The app never writes into it."""
    uploads_dir: Path = Path("artifacts/uploads")
    """Files uploaded in Documentos (`COURSE_UPLOADS`): kept apart from the course folder (which may be
    a git checkout), indexed beside it under `subidos/`."""
    include_reference: bool = True
    """Offer SmolLM2-135M-Instruct, untuned, as the `reference` variant (`COURSE_REFERENCE=0` hides it:
    tests, or a machine short of memory)."""
    decode_threads: int = DECODE_THREADS
    """PyTorch threads for the tokens after the first (`COURSE_DECODE_THREADS`; 0: every core). The prompt's
    forward pass always uses every core."""

    def __post_init__(self) -> None:
        if self.decode_threads < 0:
            raise ValueError(f"COURSE_DECODE_THREADS={self.decode_threads}: must be >= 0 (0: every core)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> AppConfig:
        """The defaults, then the `COURSE_*` variables, then explicit overrides (command-line flags)."""
        env = os.environ if env is None else env
        d = cls()
        config = cls(
            index_dir=Path(env.get("COURSE_INDEX", d.index_dir)),
            models_dir=Path(env.get("COURSE_MODELS", d.models_dir)),
            docs_dir=Path(env.get("COURSE_DOCS", d.docs_dir)),
            uploads_dir=Path(env.get("COURSE_UPLOADS", d.uploads_dir)),
            include_reference=env.get("COURSE_REFERENCE", "1").strip().lower() not in FALSE,
            decode_threads=_int(env, "COURSE_DECODE_THREADS", d.decode_threads),
        )
        given = {k: (Path(v) if k.endswith("_dir") else v) for k, v in overrides.items() if v is not None}
        return replace(config, **given)

    def to_env(self) -> dict[str, str]:
        """The `COURSE_*` variables that make another process (a served app) read this configuration."""
        return {"COURSE_INDEX": str(self.index_dir), "COURSE_MODELS": str(self.models_dir),
                "COURSE_DOCS": str(self.docs_dir), "COURSE_UPLOADS": str(self.uploads_dir),
                "COURSE_REFERENCE": "1" if self.include_reference else "0",
                "COURSE_DECODE_THREADS": str(self.decode_threads)}

    def index_command(self) -> str:
        """The command that builds (or updates) the index this configuration reads."""
        return index_command(self.docs_dir, self.index_dir, self.uploads_dir)

    def train_command(self) -> str:
        return train_command(self.models_dir)


def index_command(docs_dir: Path, index_dir: Path, uploads_dir: Path | None = None) -> str:
    cmd = ["python", "-m", "index", "build", "--docs", str(docs_dir), "--out", str(index_dir)]
    if uploads_dir is not None:
        cmd += ["--uploads", str(uploads_dir)]
    return shlex.join(cmd)


def train_command(models_dir: Path) -> str:
    """`make models`, pointed at `models_dir` when it is not the default."""
    if Path(models_dir) == AppConfig().models_dir:
        return "make models"
    return shlex.join(["make", "models", f"MODELS={models_dir}"])
