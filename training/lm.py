"""Language-modelling pieces shared by pretraining, the training benchmark and evaluation: packing text
into blocks, the model, its loss and held-out loss, copy probes (repeated spans, copy accuracy) and the
FLOPs estimate behind MFU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlamaForCausalLM

from . import loop
from .bpe import document_separator
from .config import PipelineConfig
from .corpus import CorpusError, load_corpus, split_documents


def pack(texts: list[str], tokenizer, block_size: int, stride: int) -> torch.Tensor:
    """Token blocks of `block_size`, starting every `stride` tokens over the concatenated corpus."""
    sep = document_separator(tokenizer)
    ids: list[int] = []
    for t in texts:
        if t.strip():
            ids += tokenizer(t, add_special_tokens=False)["input_ids"] + [sep]
    if len(ids) < block_size:
        raise CorpusError(f"corpus has {len(ids)} tokens, fewer than one block of {block_size}; "
                          f"lower pretrain.block_size or add documents")
    flat = torch.tensor(ids, dtype=torch.long)
    starts = range(0, len(ids) - block_size + 1, stride)
    return torch.stack([flat[s:s + block_size] for s in starts])


def flops_per_token(model, block_size: int) -> float:
    """6N + 12·L·H·Q·T (nanoGPT / PaLM appendix B): weights plus attention, forward and backward."""
    c = model.config
    n = sum(p.numel() for p in model.parameters())
    head = c.hidden_size // c.num_attention_heads
    return 6 * n + 12 * c.num_hidden_layers * c.num_attention_heads * head * block_size


def lm_loss(model, batch: dict) -> loop.StepResult:
    x = batch["input_ids"]
    # use_cache=False: a forward pass that trains or scores needs no KV cache (building one costs ~3 %).
    return loop.StepResult(model(input_ids=x, labels=x, use_cache=False).loss, x.numel())


def heldout_loss(model, blocks: torch.Tensor, device, batch_size: int = 8) -> float:
    """Mean next-token cross-entropy over held-out blocks."""
    losses = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(blocks), batch_size):
            x = blocks[i:i + batch_size].to(device)
            losses.append(model(input_ids=x, labels=x, use_cache=False).loss.float().item() * len(x))
    model.train(was_training)
    return sum(losses) / len(blocks)


@dataclass
class PretrainData:
    train: torch.Tensor
    held_out: torch.Tensor


def repeated_spans(blocks: torch.Tensor, share: float, seed: int, min_span: int = 8) -> torch.Tensor:
    """Extra blocks made of a random token sequence repeated until the block is full.

    Copying from the context is the skill RAG answers need (an answer quotes its passage). Small models
    learn it as induction heads (Olsson et al., 2022), from repeated sequences that cannot be predicted any
    other way: a repeated span of the corpus itself would not do, because after a few epochs it is
    predicted from memory. So each block repeats a sequence of tokens drawn at random from the corpus
    (its unigram distribution), of a random length between `min_span` and a quarter of the block; everything
    after the first copy is predictable, and only by looking back. `share` of the training blocks are
    such repeats; held-out perplexity is measured on plain text.
    """
    if share <= 0:
        return blocks[:0]
    n = round(len(blocks) * share / (1 - share))
    g = torch.Generator().manual_seed(seed)
    length = blocks.shape[1]
    flat = blocks.flatten()
    lengths = torch.randint(min(min_span, length // 4), length // 4 + 1, (n,), generator=g).tolist()
    rows = []
    for span_len in lengths:
        span = flat[torch.randint(0, len(flat), (span_len,), generator=g)]
        rows.append(span.repeat(length // span_len + 1)[:length])
    return torch.stack(rows)


def copy_accuracy(model, blocks: torch.Tensor, n: int = 16, seed: int = 1234,
                  device: torch.device | None = None, batch_size: int = 8) -> float:
    """Top-1 next-token accuracy on the second half of `n` repeated random spans (`repeated_spans`, spans of
    at most a quarter block, so that half is all repeats): about 0 for a model that cannot copy from its
    context, near 1 for one with induction heads. It bounds how well a model can quote a passage.
    In batches: a 262k-token vocabulary makes one block's logits 268 MB in float32."""
    probe = repeated_spans(blocks, share=0.5, seed=seed)[:n]
    if not len(probe):
        return 0.0
    was_training = model.training
    model.eval()
    half = probe.shape[1] // 2
    hits = []
    with torch.no_grad():
        for i in range(0, len(probe), batch_size):
            x = probe[i:i + batch_size].to(device or torch.device("cpu"))
            predicted = model(input_ids=x).logits[:, :-1].argmax(-1)
            hits.append((predicted[:, half:] == x[:, half + 1:]).flatten().cpu())
    model.train(was_training)
    return round(torch.cat(hits).float().mean().item(), 4)


def build_data(cfg: PipelineConfig, tokenizer) -> PretrainData:
    docs = load_corpus(cfg.corpus.docs)
    train_texts, held_texts = split_documents(docs, cfg.corpus.held_out, cfg.corpus.seed)
    bs = cfg.pretrain.block_size
    train = pack(train_texts, tokenizer, bs, stride=max(1, bs // 2))
    extra = repeated_spans(train, cfg.pretrain.copy_share, cfg.pretrain.optim.seed)
    return PretrainData(torch.cat([train, extra]), pack(held_texts, tokenizer, bs, stride=bs))


def new_model(cfg: PipelineConfig, tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(cfg.pretrain.optim.seed)
    hf = cfg.pretrain.model.to_hf(len(tokenizer), tokenizer)
    hf._attn_implementation = "sdpa"
    return LlamaForCausalLM(hf)
