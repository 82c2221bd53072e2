"""Knowledge-distillation pieces: the KD loss, the teacher-to-student layer map, building the student
from the teacher's layers, and the teacher's answers and (top-k) logits the student learns from.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from .sft import IGNORE, answer_logits, answer_loss, answer_window, collate, length_batches


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


def layer_map(teacher_layers: int, student_layers: int, selection: str = "spread",
              ranking: list[int] | None = None) -> list[int]:
    """Teacher layer copied into each student layer, in the teacher's order.

    'spread': evenly spaced, first and last kept. 'block': the first student_layers - 1 layers and the last
    one, i.e. one contiguous block of deep layers dropped, which the layer-pruning literature finds far less
    harmful than dropping layers throughout (Gromov et al., 2024, "The Unreasonable Ineffectiveness of the
    Deeper Layers"): the early layers that read and copy from the context stay intact. 'loss': drop the
    first teacher_layers - student_layers layers of `ranking` (`rank_layers`: the layer whose removal alone
    raises the held-out answer loss least comes first)."""
    if selection == "loss":
        if ranking is None or sorted(ranking) != list(range(teacher_layers)):
            raise ValueError("layer_selection='loss' needs a ranking of every teacher layer (rank_layers)")
        return sorted(set(range(teacher_layers)) - set(ranking[:teacher_layers - student_layers]))
    if student_layers == 1:
        return [teacher_layers - 1]
    if selection == "block":
        return [*range(student_layers - 1), teacher_layers - 1]
    step = (teacher_layers - 1) / (student_layers - 1)
    return [round(i * step) for i in range(student_layers)]


def make_student(teacher: PreTrainedModel, num_layers: int, selection: str = "spread",
                 ranking: list[int] | None = None) -> PreTrainedModel:
    """The teacher's own architecture (Llama, Gemma 3, …) with `num_layers` of its layers, copied."""
    cfg = copy.deepcopy(teacher.config)
    cfg.num_hidden_layers = num_layers
    mapping = layer_map(teacher.config.num_hidden_layers, num_layers, selection, ranking)
    if getattr(cfg, "layer_types", None):
        # Each copied layer keeps its own attention type: Gemma 3's global layers (every sixth: 5, 11 and 17
        # of the 270M model's 18) use full attention and another RoPE base than its sliding-window layers, so
        # a global layer run as a sliding one would read positions its weights were not trained on.
        cfg.layer_types = [teacher.config.layer_types[j] for j in mapping]
    student = type(teacher)(cfg)
    student.generation_config = copy.deepcopy(teacher.generation_config)  # eos ids, suppressed tokens
    student.model.embed_tokens.load_state_dict(teacher.model.embed_tokens.state_dict())
    student.model.norm.load_state_dict(teacher.model.norm.state_dict())
    if not cfg.tie_word_embeddings:
        student.lm_head.load_state_dict(teacher.lm_head.state_dict())
    for i, j in enumerate(mapping):
        student.model.layers[i].load_state_dict(teacher.model.layers[j].state_dict())
    return student


def rank_layers(teacher: PreTrainedModel, rows: list[dict], pad_id: int, device,
                show_progress: bool = False) -> list[tuple[int, float]]:
    """(layer, held-out answer loss of the teacher without that one layer), lowest loss first.

    Which layers a student can lose is measured, not assumed: on the cpu-gemma3 teacher the one-layer cuts'
    answer perplexities range from 1.36 (layer 16) to 10^9 (layer 5, a global-attention layer), and the
    cosine-based block influence of ShortGPT (Men et al., 2024) ranks layers 9 and 4 among the most
    redundant where removing them costs 1.63 and 2.09 (docs/experiments.md, 2026-12-08). One forward pass of
    `rows` per teacher layer: 19 s each for 16 examples on 2 cores, so `cpu-gemma3` names its cut (`block`)."""
    n = teacher.config.num_hidden_layers
    out = []
    for layer in tqdm(range(n), desc="distill: ranking layers", disable=not show_progress, dynamic_ncols=True):
        kept = [j for j in range(n) if j != layer]
        cut = make_student(teacher, n - 1, "loss", ranking=[layer, *kept]).to(device).eval()
        out.append((layer, answer_loss(cut, rows, pad_id, device)))
        del cut
    return sorted(out, key=lambda x: x[1])


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
                   show_progress: bool = False, vocab: torch.Tensor | None = None,
                   ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The teacher's logits for each row's answer tokens, on the CPU: (answer tokens, vocab) per row, or with
    `top_k` its top-k logits (answer tokens, k) and their token ids.

    The teacher is frozen, so they are computed once instead of in every step (the cpu-demo student sees each
    example about four times, and the teacher's forward pass was the larger half of a step). With a large
    vocabulary only the top k are kept: SmolLM2's 49k-token logits for every answer token of 350 examples
    are ~6 GB in float32, their top 64 ~25 MB.

    `vocab` (the teacher ids a pruned student keeps, `training.vocab`): only those logits, so the
    distribution is renormalized over the student's vocabulary and the ids are the student's."""
    out: list = [None] * len(rows)
    with torch.no_grad():
        for batch in tqdm(length_batches(rows, batch_size), desc="distill: teacher logits",
                          disable=not show_progress, dynamic_ncols=True):
            chunk = [rows[i] for i in batch]
            logits, _ = answer_logits(teacher, {k: v.to(device) for k, v in collate(chunk, pad_id).items()})
            for j, (i, r) in enumerate(zip(batch, chunk, strict=True)):
                n = int((r["labels"] != IGNORE).sum())  # the answer: the row's last n tokens (left padding)
                row = logits[j, -n - 1:-1].float()  # the positions that predict them
                if vocab is not None:
                    row = row[:, vocab]
                if top_k:
                    values, index = row.topk(min(top_k, row.shape[-1]), dim=-1)
                    out[i] = (values.cpu(), index.cpu())
                else:
                    out[i] = (row.cpu(), None)
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
