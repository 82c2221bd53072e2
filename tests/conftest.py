import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
SHARED_DOCS = ROOT.parent / "shared" / "course-docs"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def course_index_dir(tmp_path_factory) -> Path:
    """The shipped sample corpus, indexed once per test session (the directory)."""
    from index import build_index

    out = tmp_path_factory.mktemp("course-index")
    build_index(COURSE, out, progress=False)
    return out


@pytest.fixture(scope="session")
def course_index(course_index_dir):
    """The same index, loaded."""
    from index import HybridIndex

    return HybridIndex.load(course_index_dir)


@pytest.fixture(scope="session")
def shared_docs_index(tmp_path_factory):
    """The real course documents (../shared/course-docs), when this checkout has them."""
    if not SHARED_DOCS.is_dir():
        pytest.skip("../shared/course-docs is not present")
    from index import HybridIndex, build_index

    out = tmp_path_factory.mktemp("shared-index")
    build_index(SHARED_DOCS, out, progress=False)
    return HybridIndex.load(out)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """base/tuned/distilled as tiny random Llama checkpoints (see tests/tiny_models.py)."""
    from tiny_models import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("models"))

