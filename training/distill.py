"""Stage 4: distill a smaller student from the tuned model.

The student has the teacher's width and vocabulary but fewer layers; it starts from the teacher's
embeddings, final norm and evenly spaced layers (first and last always kept), then trains on the instruction
data with

    loss = (1 - alpha) * CE(student, reference answer) + alpha * T^2 * KL(teacher_T || student_T)

over the answer tokens only, where `_T` is a softmax at temperature T (Hinton et al., 2015; the T^2 keeps
the soft term's gradients on the scale of the hard one). With `distill.sequence_kd=true` the student also
trains on the teacher's own greedy answers (sequence-level KD, Kim & Rush, 2016).

    python -m training.distill [--profile cpu-demo | --config FILE] [--out DIR] [--resume] [key=value ...]
"""

from __future__ import annotations

import copy
import logging
import math
import resource
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from . import loop
from .artifacts import publish, require, work_dir, write_variant
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config, save_resolved
from .instruct import IGNORE, answer_logits, answer_loss, answer_window, collate, encode, load_examples

log = logging.getLogger(__name__)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float, temperature: float, teacher_index: torch.Tensor | None = None,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, ce, kl) over the positions whose next token is a label (causal shift applied here).

    student_logits: (B, K, V). teacher_logits: (B, K, V), or with `teacher_index` (B, K, k) the teacher's
    top-k logits and their token ids: the teacher distribution is then renormalized over its top k tokens
    and the KL is taken against the student's full-vocabulary log-probabilities at those tokens."""
    s = student_logits[:, :-1].float()
    t = teacher_logits[:, :-1].float()
    target = labels[:, 1:]
    mask = target != IGNORE
    ce = F.cross_entropy(s[mask], target[mask])
    log_p_s = F.log_softmax(s[mask] / temperature, dim=-1)  # (N, V)
    log_p_t = F.log_softmax(t[mask] / temperature, dim=-1)  # (N, V) or (N, k)
    if teacher_index is None:
        kl = F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean")
    else:
        log_p_s = log_p_s.gather(-1, teacher_index[:, :-1][mask])  # (N, k)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
    return (1 - alpha) * ce + alpha * temperature**2 * kl, ce, kl


def layer_map(teacher_layers: int, student_layers: int, selection: str = "spread") -> list[int]:
    """Teacher layer copied into each student layer, first and last always included.

    'spread': evenly spaced. 'block': the first student_layers - 1 layers and the last one, i.e. one
    contiguous block of deep layers dropped, which the layer-pruning literature finds far less harmful than
    dropping layers throughout (Gromov et al., 2024, "The Unreasonable Ineffectiveness of the Deeper Layers"):
    the early layers that read and copy from the context stay intact."""
    if student_layers == 1:
        return [teacher_layers - 1]
    if selection == "block":
        return [*range(student_layers - 1), teacher_layers - 1]
    step = (teacher_layers - 1) / (student_layers - 1)
    return [round(i * step) for i in range(student_layers)]


def make_student(teacher: LlamaForCausalLM, num_layers: int, selection: str = "spread") -> LlamaForCausalLM:
    cfg = copy.deepcopy(teacher.config)
    cfg.num_hidden_layers = num_layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = cfg.layer_types[:num_layers]
    student = LlamaForCausalLM(cfg)
    mapping = layer_map(teacher.config.num_hidden_layers, num_layers, selection)
    student.model.embed_tokens.load_state_dict(teacher.model.embed_tokens.state_dict())
    student.model.norm.load_state_dict(teacher.model.norm.state_dict())
    if not cfg.tie_word_embeddings:
        student.lm_head.load_state_dict(teacher.lm_head.state_dict())
    for i, j in enumerate(mapping):
        student.model.layers[i].load_state_dict(teacher.model.layers[j].state_dict())
    return student


def teacher_answers(teacher, tokenizer, examples: list[dict], device, max_new_tokens: int = 96,
                    show_progress: bool = True) -> list[dict]:
    """Sequence-level KD data: the same prompts, answered by the teacher (greedy)."""
    out = []
    for ex in tqdm(examples, desc="distill: teacher answers", disable=not show_progress, dynamic_ncols=True):
        prompt = tokenizer.apply_chat_template(ex["messages"], add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        with torch.no_grad():
            gen = teacher.generate(**{k: v.to(device) for k, v in prompt.items()}, max_new_tokens=max_new_tokens,
                                   do_sample=False, pad_token_id=tokenizer.pad_token_id)
        text = tokenizer.decode(gen[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        if text:
            out.append({**ex, "answer": text, "kind": ex["kind"] + "+teacher"})
    return out


def teacher_logits(teacher, rows: list[dict], pad_id: int, device, batch_size: int = 8, top_k: int = 0,
                   show_progress: bool = False) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The teacher's logits for each row's answer tokens, on the CPU: (answer tokens, vocab) per row, or with
    `top_k` its top-k logits (answer tokens, k) and their token ids.

    The teacher is frozen, so they are computed once instead of in every step (the cpu-demo student sees each
    example about four times, and the teacher's forward pass was the larger half of a step). With a large
    vocabulary only the top k are kept: SmolLM2's 49k-token logits for every answer token of 350 examples
    are ~6 GB in float32, their top 64 ~25 MB."""
    out = []
    starts = range(0, len(rows), batch_size)
    with torch.no_grad():
        for i in tqdm(starts, desc="distill: teacher logits", disable=not show_progress, dynamic_ncols=True):
            chunk = rows[i:i + batch_size]
            logits, _ = answer_logits(teacher, {k: v.to(device) for k, v in collate(chunk, pad_id).items()})
            for j, r in enumerate(chunk):
                n = int((r["labels"] != IGNORE).sum())  # the answer: the row's last n tokens (left padding)
                row = logits[j, -n - 1:-1].float()  # the positions that predict them
                if top_k:
                    values, index = row.topk(min(top_k, row.shape[-1]), dim=-1)
                    out.append((values.cpu(), index.cpu()))
                else:
                    out.append((row.cpu(), None))
    return out


def collate_with_teacher(rows: list[dict], pad_id: int) -> dict:
    """`collate`, plus `teacher_logits` (B, K, V or k) laid out like `answer_logits`' window (zeros elsewhere)
    and, for top-k logits, `teacher_index` (B, K, k)."""
    batch = collate(rows, pad_id)
    k = answer_window(batch["labels"])
    values, index = rows[0]["teacher"]
    t = torch.zeros(len(rows), k, values.shape[-1])
    ids = torch.zeros(len(rows), k, values.shape[-1], dtype=torch.long) if index is not None else None
    for i, r in enumerate(rows):
        v, x = r["teacher"]
        n = len(v)
        t[i, k - n - 1:k - 1] = v
        if ids is not None:
            ids[i, k - n - 1:k - 1] = x
    batch["teacher_logits"] = t
    if ids is not None:
        batch["teacher_index"] = ids
    return batch


def run(cfg: PipelineConfig, out: Path, resume: bool = False) -> Path:
    rt = loop.setup_runtime(cfg.runtime)
    dc = cfg.distill
    tuned_dir = require(out / "tuned", "python -m training.instruct")
    tokenizer = AutoTokenizer.from_pretrained(tuned_dir)
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir, dtype=torch.float32).to(rt.device).eval()
    teacher.requires_grad_(False)
    if dc.num_layers >= teacher.config.num_hidden_layers:
        raise ValueError(f"distill.num_layers={dc.num_layers}: the teacher has only "
                         f"{teacher.config.num_hidden_layers} layers; the student must have fewer")
    train_ex = load_examples(out / "data" / "train.jsonl")
    held_ex = load_examples(out / "data" / "held_out.jsonl")
    if dc.sequence_kd:
        train_ex = train_ex + teacher_answers(teacher, tokenizer, train_ex, rt.device, show_progress=rt.is_main)
    train_rows = [r for r in (encode(e, tokenizer, cfg.instruct.max_length) for e in train_ex) if r]
    held_rows = [r for r in (encode(e, tokenizer, cfg.instruct.max_length) for e in held_ex) if r]
    torch.manual_seed(dc.optim.seed)
    student = make_student(teacher, dc.num_layers, dc.layer_selection)
    wd = work_dir(out, "distill")
    mapping = layer_map(teacher.config.num_hidden_layers, dc.num_layers, dc.layer_selection)
    if rt.is_main:
        log.info("distill: student %d layers (from teacher layers %s), %s parameters vs teacher %s; alpha=%s T=%s",
                 dc.num_layers, mapping, f"{sum(p.numel() for p in student.parameters()):,}",
                 f"{sum(p.numel() for p in teacher.parameters()):,}", dc.alpha, dc.temperature)
        save_resolved(cfg, wd / "training_config.json", {"layer_map": mapping})
    pad = tokenizer.pad_token_id

    def loss_fn(model, batch: dict) -> loop.StepResult:
        s_logits, labels = answer_logits(model, batch)
        loss, _, _ = kd_loss(s_logits, batch["teacher_logits"], labels, dc.alpha, dc.temperature,
                             batch.get("teacher_index"))
        return loop.StepResult(loss, int(batch["attention_mask"].sum()))

    def evaluate(m) -> dict:
        loss = answer_loss(m, held_rows, pad, rt.device)
        return {"eval_loss": round(loss, 5), "eval_ppl": round(math.exp(min(loss, 50)), 3)}

    # Only the rows the batch plan will read get the teacher's logits (60 steps x 4 read 240 of SmolLM2's 666).
    plan = loop.BatchPlan(len(train_rows), dc.optim.batch_size, dc.optim.grad_accum, rt.world, dc.optim.seed)
    used = sorted(plan.used(dc.optim.steps))
    with rt.autocast():
        soft = teacher_logits(teacher, [train_rows[i] for i in used], pad, rt.device, top_k=dc.top_k,
                              show_progress=rt.is_main)
    for i, t in zip(used, soft, strict=True):
        train_rows[i] = {**train_rows[i], "teacher": t}
    state = loop.train(student, train_rows, lambda rows: collate_with_teacher(rows, pad), loss_fn, dc.optim, rt, wd,
                       resume=resume, eval_fn=evaluate if held_rows else None, desc="distill")
    if not rt.is_main:
        return out / "distilled"
    final = state.history[-1] if state.history else {}
    student = student.cpu()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    log.info("distill: peak memory %.1f GB (process RSS)", peak_gb)
    summary = {"peak_rss_gb": round(peak_gb, 1), "teacher": "tuned",
               "student_layers": f"{dc.num_layers} ({mapping})",
               "kd_loss": f"(1-{dc.alpha})·CE + {dc.alpha}·T²·KL, T={dc.temperature}",
               "sequence_kd": dc.sequence_kd, "heldout_answer_ppl": final.get("eval_ppl"),
               "steps": state.step}

    target = publish(out / "distilled", lambda tmp: write_variant(
        tmp, "distilled", student, tokenizer, wd, "distill", "chat", cfg, summary))
    log.info("distill: done, held-out answer perplexity %s -> %s", final.get("eval_ppl"), target)
    return target


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("distill", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
