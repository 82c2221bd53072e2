"""Stage 1: the course's byte-level BPE tokenizer (`training.bpe`), trained on the corpus and saved with
its chat template.

    python -m training.tokenizer [--profile cpu-demo | --config FILE] [--out artifacts/models] [key=value ...]
"""

from __future__ import annotations

import logging
from pathlib import Path

from .artifacts import publish, write_json
from .bpe import course_tokenizer
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config
from .corpus import load_corpus

log = logging.getLogger(__name__)


def run(cfg: PipelineConfig, out: Path) -> Path:
    docs = load_corpus(cfg.corpus.docs)
    tok = course_tokenizer(cfg, docs)
    chars = sum(len(d.text) for d in docs)
    n_tokens = sum(len(tok(d.text)["input_ids"]) for d in docs)

    def write(tmp: Path) -> None:
        tok.save_pretrained(tmp)
        write_json(tmp / "training_config.json", {"config": cfg.to_dict(), "documents": len(docs),
                                                  "characters": chars, "tokens": n_tokens,
                                                  "vocab_size": len(tok)})

    target = publish(out / "tokenizer", write)
    log.info("tokenizer: vocab %d, %d documents, %d tokens (%.2f chars/token) -> %s",
             len(tok), len(docs), n_tokens, chars / max(1, n_tokens), target)
    return target


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("tokenizer", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
