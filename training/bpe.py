"""The course's own tokenizer: byte-level BPE trained on the corpus plus the prompt scaffolding.

It is a `PreTrainedTokenizerFast` with the special tokens and the ChatML chat template of `training.prompts`,
so the SFT data, the evaluation and the app all render prompts the same way. The tokenizer stage saves it;
the training benchmark builds it in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from index.document import Document

from .config import PipelineConfig
from .prompts import CHAT_TEMPLATE, FEW_SHOT, SYSTEM

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


def course_tokenizer(cfg: PipelineConfig, docs: list[Document]) -> PreTrainedTokenizerFast:
    """The tokenizer `cfg.tokenizer` describes, trained on `docs`. The prompt scaffolding is part of every
    SFT example, so BPE learns its words too."""
    texts = [d.text for d in docs] + [SYSTEM] + [q + " " + a for _, q, a in FEW_SHOT]
    return train_tokenizer(texts, cfg.tokenizer.vocab_size, cfg.tokenizer.min_frequency)
