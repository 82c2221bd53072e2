"""Supervised fine-tuning pieces shared by instruction tuning, distillation and evaluation: encoding a
chat example with its prompt masked, left-padded collation, the answer window whose logits carry the
loss, and the losses. Change SFT masking here and every stage that trains or scores answers follows.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from index.jsonl import iter_jsonl

from . import loop
from .data import Example

IGNORE = -100


def encode_example(example: Example | dict, tokenizer, max_length: int | None = None) -> dict | None:
    """input_ids + labels with the prompt masked; None when the example is longer than max_length."""
    ex = example if isinstance(example, dict) else example.to_dict()
    prompt = tokenizer.apply_chat_template(ex["messages"], add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(ex["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt_ids + answer_ids
    if max_length and len(ids) > max_length:
        return None
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}


def collate(rows: list[dict], pad_id: int) -> dict:
    """Left padding: every row's answer then ends at the last position, so the loss needs the logits of only
    the last `answer_window` positions, the same for every row (`logits_to_keep`). Padded positions are masked
    in attention and in the loss; RoPE sees only relative positions, so a left-padded row scores as it
    would alone."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, width - n:], labels[i, width - n:], mask[i, width - n:] = r["input_ids"], r["labels"], 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def answer_window(labels: torch.Tensor) -> int:
    """Positions (counted from the end) whose logits predict a labelled token: from the one before the
    batch's earliest answer token to the end. The prompt, ~88 % of a cpu-demo row, needs no logits: the
    vocabulary projection of its positions was the largest single cost of an SFT or distillation step."""
    labelled = (labels != IGNORE).any(0).nonzero()
    if not len(labelled):
        return 1
    return labels.shape[1] - int(labelled[0]) + 1


def answer_logits(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) over the answer window: (B, K, V) and (B, K). Position k's logits predict label k+1,
    as in any causal LM loss (the caller shifts)."""
    k = answer_window(batch["labels"])
    # use_cache=False: a forward pass that trains or scores needs no KV cache (building one costs ~3 %).
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=k,
                   use_cache=False).logits
    return logits, batch["labels"][:, -k:]


def causal_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled positions of `answer_logits`' output."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE)


def sft_loss(model, batch: dict) -> loop.StepResult:
    return loop.StepResult(causal_ce(*answer_logits(model, batch)), int(batch["attention_mask"].sum()))


def length_batches(rows: list[dict], batch_size: int) -> list[list[int]]:
    """Row indices in batches of similar length (the shortest first): a batch is padded to its longest row,
    and in file order a quarter of an evaluation pass's tokens were padding (the instruct held-out set:
    44.7k padded tokens for 35.3k real ones; sorted, 36.5k). Only for passes whose result does not depend
    on the order (scoring, the teacher's logits), never for training batches."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def answer_loss(model, rows: list[dict], pad_id: int, device, batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token over `rows`."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in length_batches(rows, batch_size):
            b = {k: v.to(device) for k, v in collate([rows[i] for i in batch], pad_id).items()}
            n = int((b["labels"][:, 1:] != IGNORE).sum())
            total += causal_ce(*answer_logits(model, b)).item() * n
            count += n
    return total / max(1, count)


def load_examples(path: Path) -> list[dict]:
    """The instruction examples the instruct stage wrote (one per line)."""
    return [row for _, row in iter_jsonl(path)]
