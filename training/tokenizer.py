"""Stage 1: a byte-level BPE tokenizer trained on the course corpus.

Saved as a `PreTrainedTokenizerFast` with the special tokens and the ChatML chat template of
`training.prompts`, so the SFT data, the evaluation and the app all render prompts the same way.

    python -m training.tokenizer [--profile cpu-demo | --config FILE] [--out artifacts/models] [key=value ...]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from .artifacts import publish, write_json
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config
from .corpus import load_corpus
from .prompts import CHAT_TEMPLATE, FEW_SHOT, SYSTEM

log = logging.getLogger(__name__)

DOC_SEP, PAD = "<|endoftext|>", "<|pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [DOC_SEP, PAD, IM_START, IM_END]


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every string is encodable (no unknown token), accents included."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=DOC_SEP,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START, DOC_SEP],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 1_000_000
    return fast


def document_separator(tokenizer) -> int:
    """Token that separates packed documents in pretraining (the tokenizer's EOS for foreign ones)."""
    sep = tokenizer.convert_tokens_to_ids(DOC_SEP)
    return sep if isinstance(sep, int) and sep != tokenizer.unk_token_id else tokenizer.eos_token_id


def run(cfg: PipelineConfig, out: Path) -> Path:
    docs = load_corpus(cfg.corpus.docs)
    # The prompt scaffolding is part of every SFT example: let BPE learn its words too.
    texts = [d.text for d in docs] + [SYSTEM] + [q + " " + a for _, q, a in FEW_SHOT]
    tok = train_tokenizer(texts, cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency)
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
