"""Stage 4: distill a smaller student from the tuned model.

The student has the teacher's width but fewer layers, and with `distill.vocab_top` a pruned vocabulary
(`training/vocab.py`: the tokens the course needs; for Gemma 3 the 262k-row output projection is most of
each token's cost). It starts from the teacher's embeddings (their kept rows), final norm and chosen layers,
then trains on the instruction data with

    loss = (1 - alpha) * CE(student, reference answer) + alpha * T^2 * KL(teacher_T || student_T)

over the answer tokens only, where `_T` is a softmax at temperature T (Hinton et al., 2015; the T^2 keeps
the soft term's gradients on the scale of the hard one). With `distill.sequence_kd=true` the student also
trains on the teacher's own greedy answers (sequence-level KD, Kim & Rush, 2016).

    python -m training.distill [--profile cpu-demo | --config FILE] [--out DIR] [--resume] [key=value ...]
"""

from __future__ import annotations

import logging
import math
import resource
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from . import loop
from .artifacts import publish, require, work_dir, write_variant
from .batching import BatchPlan
from .checkpoint import MetricsLog
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config, save_resolved
from .corpus import load_corpus
from .kd import (
    collate_with_teacher,
    kd_loss,
    layer_map,
    make_student,
    rank_layers,
    teacher_answers,
    teacher_logits,
)
from .runtime import setup_runtime
from .sft import answer_logits, answer_loss, encode_example, load_examples
from .vocab import kept_ids, prune_embeddings, prune_tokenizer

log = logging.getLogger(__name__)


def fewer_cot(examples: list[dict], share: float) -> list[dict]:
    """The examples with only the first `share` of the chain-of-thought ones (see `DistillConfig.cot_share`)."""
    cot = [i for i, e in enumerate(examples) if e.get("kind") == "cot"]
    drop = set(cot[round(share * len(cot)):])
    return [e for i, e in enumerate(examples) if i not in drop]


def run(cfg: PipelineConfig, out: Path, resume: bool = False) -> Path:
    rt = setup_runtime(cfg.runtime)
    dc = cfg.distill
    tuned_dir = require(out / "tuned", "python -m training.instruct")
    tokenizer = AutoTokenizer.from_pretrained(tuned_dir)
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir, dtype=torch.float32).to(rt.device).eval()
    teacher.requires_grad_(False)
    if dc.num_layers > teacher.config.num_hidden_layers or (
            dc.num_layers == teacher.config.num_hidden_layers and not dc.vocab_top):
        raise ValueError(f"distill.num_layers={dc.num_layers}: the teacher has "
                         f"{teacher.config.num_hidden_layers} layers; the student must have fewer "
                         "(or the same number and a pruned vocabulary, distill.vocab_top)")
    train_ex = load_examples(out / "data" / "train.jsonl")
    held_ex = load_examples(out / "data" / "held_out.jsonl")
    train_ex = fewer_cot(train_ex, dc.cot_share)
    if dc.sequence_kd:  # validated: only with kd
        train_ex = train_ex + teacher_answers(teacher, tokenizer, train_ex, rt.device, show_progress=rt.is_main)
    keep = None
    student_tok = tokenizer
    if dc.vocab_top:
        texts = [d.text for d in load_corpus(cfg.corpus.docs)] + example_texts(train_ex + held_ex, tokenizer)
        keep = kept_ids(tokenizer, texts, dc.vocab_top)
        student_tok = prune_tokenizer(tokenizer, keep)
        if rt.is_main:
            log.info("distill: student vocabulary %s of the teacher's %s tokens", f"{len(keep):,}",
                     f"{len(tokenizer):,}")
    train_rows = paired_rows(train_ex, tokenizer, student_tok, keep, cfg.instruct.max_length)
    held_pairs = paired_rows(held_ex, tokenizer, student_tok, keep, cfg.instruct.max_length)
    held_rows = [s for _, s in held_pairs]
    ranking = None
    if dc.layer_selection == "loss":
        with rt.autocast():
            scored = rank_layers(teacher, [t for t, _ in held_pairs[:dc.rank_examples]], tokenizer.pad_token_id,
                                 rt.device, show_progress=rt.is_main)
        ranking = [layer for layer, _ in scored]
        if rt.is_main:
            log.info("distill: held-out answer perplexity without each teacher layer: %s",
                     ", ".join(f"{layer}: {math.exp(min(loss, 50)):.3g}" for layer, loss in scored))
    torch.manual_seed(dc.optim.seed)
    student = make_student(teacher, dc.num_layers, dc.layer_selection, ranking)
    if keep is not None:
        prune_embeddings(student, keep)
    wd = work_dir(out, "distill")
    mapping = layer_map(teacher.config.num_hidden_layers, dc.num_layers, dc.layer_selection, ranking)
    if rt.is_main:
        log.info("distill: student %d layers (from teacher layers %s), %s parameters vs teacher %s; alpha=%s T=%s",
                 dc.num_layers, mapping, f"{sum(p.numel() for p in student.parameters()):,}",
                 f"{sum(p.numel() for p in teacher.parameters()):,}", dc.alpha, dc.temperature)
        save_resolved(cfg, wd / "training_config.json", {"layer_map": mapping, "layer_ranking": ranking})
    pad = student_tok.pad_token_id

    def loss_fn(model, batch: dict) -> loop.StepResult:
        s_logits, labels = answer_logits(model, batch)
        loss, _, _ = kd_loss(s_logits, batch["teacher_logits"], labels, dc.alpha, dc.temperature,
                             batch.get("teacher_index"))
        return loop.StepResult(loss, int(batch["attention_mask"].sum()))

    def evaluate(m) -> dict:
        loss = answer_loss(m, held_rows, pad, rt.device)
        return {"eval_loss": round(loss, 5), "eval_ppl": round(math.exp(min(loss, 50)), 3)}

    eval_fn = evaluate if held_rows else None
    rows = with_teacher_logits(teacher, tokenizer, train_rows, keep, cfg, rt) if dc.kd else None
    del teacher
    if dc.kd:
        state = loop.train(student, rows, lambda rows: collate_with_teacher(rows, pad), loss_fn, dc.optim, rt, wd,
                           resume=resume, eval_fn=eval_fn, desc="distill")
    else:
        state = untrained(student, eval_fn, wd, rt.is_main)
    if not rt.is_main:
        return out / "distilled"
    final = state.history[-1] if state.history else {}
    student = student.cpu()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    log.info("distill: peak memory %.1f GB (process RSS)", peak_gb)
    summary = {"peak_rss_gb": round(peak_gb, 1), "teacher": "tuned",
               "student_layers": f"{dc.num_layers} ({mapping})",
               "vocabulary": f"{student.config.vocab_size:,} of {len(tokenizer):,} tokens",
               "kd_loss": f"(1-{dc.alpha})·CE + {dc.alpha}·T²·KL, T={dc.temperature}" if dc.kd else "none (kd=false)",
               "sequence_kd": dc.sequence_kd, "heldout_answer_ppl": final.get("eval_ppl"),
               "steps": state.step}

    target = publish(out / "distilled", lambda tmp: write_variant(
        tmp, "distilled", student, student_tok, wd, "distill", "chat", cfg, summary))
    log.info("distill: done, held-out answer perplexity %s -> %s", final.get("eval_ppl"), target)
    return target


def untrained(student, eval_fn, wd: Path, is_main: bool) -> loop.LoopState:
    """`distill.kd=false`: no step; the student's held-out answer loss is its only metric."""
    record = {"step": 0, **(eval_fn(student.eval()) if eval_fn else {})}
    if is_main:
        log.info("distill: kd=false, the student is published as cut from the teacher (no training step)")
    MetricsLog(wd / "metrics.jsonl", None, is_main).write(record)
    return loop.LoopState(step=0, history=[record])


def with_teacher_logits(teacher, tokenizer, train_rows: list[tuple[dict, dict]], keep: list[int] | None,
                        cfg: PipelineConfig, rt) -> list[dict]:
    """The student's rows, those the KD steps will read carrying the teacher's (top-k) answer logits."""
    dc = cfg.distill
    # Only the rows the batch plan will read get the teacher's logits (60 steps x 4 read 240 of SmolLM2's 666).
    plan = BatchPlan(len(train_rows), dc.optim.batch_size, dc.optim.grad_accum, rt.world, dc.optim.seed)
    used = sorted(plan.used(dc.optim.steps))
    with rt.autocast():
        soft = teacher_logits(teacher, [train_rows[i][0] for i in used], tokenizer.pad_token_id, rt.device,
                              top_k=dc.top_k, show_progress=rt.is_main,
                              vocab=None if keep is None else torch.tensor(keep))
    rows = [s for _, s in train_rows]
    for i, t in zip(used, soft, strict=True):
        rows[i] = {**rows[i], "teacher": t}
    return rows


def example_texts(examples: list[dict], tokenizer) -> list[str]:
    """What `encode_example` tokenizes: each rendered prompt and its answer."""
    return [t for e in examples for t in (
        tokenizer.apply_chat_template(e["messages"], add_generation_prompt=True, tokenize=False), e["answer"])]


def paired_rows(examples: list[dict], teacher_tok, student_tok, keep: list[int] | None, max_length: int,
                ) -> list[tuple[dict, dict]]:
    """(teacher row, student row) per example that fits. With a pruned vocabulary the two tokenizations must
    agree position by position (`keep[student id] == teacher id`) for the teacher's logits to line up; the
    pruning guarantees it for the text it was built from, and any row where it fails is dropped, counted."""
    pairs, broken = [], 0
    index = None if keep is None else torch.tensor(keep)
    for e in examples:
        t = encode_example(e, teacher_tok, max_length)
        if t is None:
            continue
        if keep is None:
            pairs.append((t, t))
            continue
        s = encode_example(e, student_tok, max_length)
        if s is None or not torch.equal(index[s["input_ids"]], t["input_ids"]):
            broken += 1
            continue
        pairs.append((t, s))
    if broken:
        log.warning("distill: %d of %d examples tokenize differently with the pruned vocabulary; left out",
                    broken, len(examples))
    return pairs


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("distill", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
