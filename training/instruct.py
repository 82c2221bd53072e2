"""Stage 3: instruction-tune the base model with LoRA (peft) on instruction data built from the corpus.

The data (see `training.data`) is written to `<out>/data/` for inspection. Only the answer tokens carry
loss (the system prompt, passages and question are masked with -100), and every answer ends with the
chat template's end-of-turn token, so the model learns to stop. The adapter is saved in peft format
(`tuned/adapter/`) and merged into a full checkpoint (`tuned/`) that loads like any other.

    python -m training.instruct [--profile cpu-demo | --config FILE] [--out DIR] [--resume] [key=value ...]
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from . import loop
from .artifacts import publish, require, work_dir, write_json, write_variant
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config, save_resolved
from .corpus import corpus_chunks, load_corpus
from .data import Example, extract_pairs, make_examples, split_pairs
from .retrieval import index_fingerprint, open_index, retrieve_chunks
from .runtime import setup_runtime
from .sft import answer_loss, collate, encode_example, load_examples, sft_loss
from .written import load_written, written_pairs

log = logging.getLogger(__name__)


def build_dataset(cfg: PipelineConfig, out: Path) -> tuple[list[Example], list[Example]]:
    """Instruction examples (train, held-out), also written as JSON lines under `<out>/data/`."""
    ic = cfg.instruct
    chunks = corpus_chunks(load_corpus(cfg.corpus.docs))
    pairs = extract_pairs(chunks, seed=ic.seed, answer_chars=ic.answer_chars, later_sentences=ic.later_sentences)
    for path in ic.written:
        pairs += written_pairs(load_written(path), chunks, name=path)
    train_pairs, held_pairs = split_pairs(pairs, ic.held_out, ic.seed)
    index = open_index(Path(cfg.evaluate.index), cfg.corpus.docs)
    train = make_examples(train_pairs, chunks, ic.num_passages, ic.max_passage_chars, seed=ic.seed,
                          cot_share=ic.cot_share, variants=ic.variants,
                          retrieve=lambda q: retrieve_chunks(index, q, ic.num_passages + 1), citation=ic.citation)
    held = make_examples(held_pairs, chunks, ic.num_passages, ic.max_passage_chars, seed=ic.seed + 1,
                         citation=ic.citation)

    def write(tmp: Path) -> None:
        for name, rows in (("train", train), ("held_out", held)):
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for ex in rows:
                    f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
        write_json(tmp / "stats.json", {
            "pairs": len(pairs), "train_pairs": len(train_pairs), "held_out_pairs": len(held_pairs),
            "train_examples": len(train), "held_out_examples": len(held),
            "by_kind": {k: sum(e.kind == k for e in train) for k in ("rag", "cot", "unanswerable")},
            "by_origin": {o: sum(p.origin == o for p in pairs) for o in ("review", "heading", "definition", "later", "written")},
        })

    publish(out / "data", write)
    return train, held


def lora_model(base, cfg: PipelineConfig, end_of_turn: int | None = None):
    """LoRA adapters on `target_modules` (of the last `lora_layers` layers), and with `train_end_of_turn`
    the `end_of_turn` token's embedding row as well."""
    ic = cfg.instruct
    n = base.config.num_hidden_layers
    if ic.lora_layers > n:
        raise ValueError(f"instruct.lora_layers={ic.lora_layers}: the model has only {n} layers")
    layers = {"layers_to_transform": list(range(n - ic.lora_layers, n)), "layers_pattern": "layers"} \
        if ic.lora_layers else {}
    tokens = {}
    if ic.train_end_of_turn:
        if end_of_turn is None:
            raise ValueError("instruct.train_end_of_turn: the tokenizer has no end-of-turn (eos) token")
        tokens = {"trainable_token_indices": [end_of_turn]}
    lcfg = LoraConfig(task_type="CAUSAL_LM", r=ic.lora_r, lora_alpha=ic.lora_alpha, lora_dropout=ic.lora_dropout,
                      target_modules=list(ic.target_modules), **layers, **tokens)
    torch.manual_seed(ic.optim.seed)
    model = get_peft_model(base, lcfg)
    if tokens and base.config.tie_word_embeddings:
        # The row is one tensor on both sides; its gradient is taken from the output side only. Through the
        # input side it would have to flow back through every layer below the adapted ones: measured on Gemma
        # 3 270M (LoRA on 9 of 18 layers), a step then cost 1.7x a LoRA step; output side only, 1.2x.
        model.get_input_embeddings().register_forward_hook(_no_input_gradient)
    return model


def _no_input_gradient(module, args, output: torch.Tensor) -> torch.Tensor:
    return output.detach()


def trainable_share(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def run(cfg: PipelineConfig, out: Path, resume: bool = False) -> Path:
    rt = setup_runtime(cfg.runtime)
    base_dir = require(out / "base", "python -m training.pretrain")
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    train_ex, held_ex = build_dataset(cfg, out) if rt.is_main or not (out / "data").exists() else (None, None)
    if rt.distributed:
        torch.distributed.barrier()
    train_rows = [r for r in (encode_example(e, tokenizer, cfg.instruct.max_length)
                              for e in load_examples(out / "data" / "train.jsonl")) if r]
    held_rows = [r for r in (encode_example(e, tokenizer, cfg.instruct.max_length)
                             for e in load_examples(out / "data" / "held_out.jsonl")) if r]
    model = lora_model(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), cfg,
                       tokenizer.eos_token_id)
    n_train, n_all = trainable_share(model)
    wd = work_dir(out, "instruct")
    if rt.is_main:
        log.info("instruct: LoRA r=%d on %s: %s of %s parameters trainable (%.2f%%); %d train / %d held-out "
                 "examples", cfg.instruct.lora_r, ",".join(cfg.instruct.target_modules), f"{n_train:,}",
                 f"{n_all:,}", 100 * n_train / n_all, len(train_rows), len(held_rows))
        save_resolved(cfg, wd / "training_config.json",
                      {"trainable_parameters": n_train, "total_parameters": n_all,
                       "index": index_fingerprint(Path(cfg.evaluate.index))})
    pad = tokenizer.pad_token_id

    def evaluate(m) -> dict:
        loss = answer_loss(m, held_rows, pad, rt.device)
        return {"eval_loss": round(loss, 5), "eval_ppl": round(math.exp(min(loss, 50)), 3)}

    state = loop.train(model, train_rows, lambda rows: collate(rows, pad), sft_loss, cfg.instruct.optim, rt, wd,
                       resume=resume, eval_fn=evaluate if held_rows else None, desc="instruct")
    if not rt.is_main:
        return out / "tuned"
    final = state.history[-1] if state.history else {}
    model = model.cpu()
    summary = {"lora": f"r={cfg.instruct.lora_r}, alpha={cfg.instruct.lora_alpha}, "
                       f"modules {', '.join(cfg.instruct.target_modules)}",
               "trainable_parameters": f"{n_train:,} / {n_all:,} ({100 * n_train / n_all:.2f}%)",
               "heldout_answer_ppl": final.get("eval_ppl"), "steps": state.step,
               "train_examples": len(train_rows)}

    def write(tmp: Path) -> None:
        write_variant(tmp, "tuned", merge(model), tokenizer, wd, "instruct", "chat", cfg, summary)
        model.save_pretrained(tmp / "adapter")

    target = publish(out / "tuned", write)
    log.info("instruct: done, held-out answer perplexity %s -> %s (adapter in %s)", final.get("eval_ppl"),
             target, target / "adapter")
    return target


def merge(peft_model: PeftModel):
    """A merged copy (the adapter folded into the weights); `peft_model` itself stays unmerged."""
    import copy

    return copy.deepcopy(peft_model).merge_and_unload()


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("instruct", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
