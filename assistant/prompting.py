"""Render the prompt a variant expects, within its context window.

The format itself belongs to `training.prompts` (the models were trained on it); this module only picks
chat template vs few-shot from the variant's `assistant.json`, and fits the prompt plus the answer into
the context by dropping the lowest-ranked passages first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from training.prompts import (
    FEW_SHOT_STOP,
    PromptPassage,
    answer_prefix,
    chat_messages,
    few_shot_prompt,
    passage_label,
)

from .registry import LoadedVariant, VariantSpec
from .retrieval import Passage

MIN_PROMPT_TOKENS = 64


@dataclass
class RenderedPrompt:
    input_ids: list[int]
    text: str
    passages: list[Passage]
    """The passages that fit, best first; `[n]` in the answer refers to these numbers."""
    dropped: int
    """How many passages did not fit into the context (beyond the variant's own num_passages cap)."""
    max_new_tokens: int
    """The answer budget actually used (lowered when the context is short)."""
    stop_strings: tuple[str, ...]
    truncated: bool = False
    """True when even without passages the question had to be cut."""
    question_chars: int = 0
    """How much of the question the model read (its last characters when `question_cut`)."""
    question_cut: bool = False
    """True when the question was shortened so that at least one passage fits beside it."""
    prefix: str = ""
    """The start of the answer the prompt already wrote (`training.prompts.answer_prefix`): the model's
    text continues it, so the answer is `prefix` + what it generated."""


def prompt_passages(passages: Sequence[Passage]) -> list[PromptPassage]:
    """Labelled as in training and evaluation (`training.prompts.passage_label`): the models learnt that form."""
    return [PromptPassage(p.number, p.text, passage_label(p.source, p.heading_path, p.location)) for p in passages]


def render_text(spec: VariantSpec, tokenizer, question: str, passages: Sequence[Passage], cot: bool) -> str:
    shown = prompt_passages(passages)
    if spec.prompt_style == "few-shot":
        return few_shot_prompt(question, shown, cot, spec.max_passage_chars)
    messages = chat_messages(question, shown, cot, spec.max_passage_chars)
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + answer_prefix(cot)


def encode_prompt(spec: VariantSpec, tokenizer, text: str) -> list[int]:
    # A chat template already writes its special tokens; a few-shot prompt gets the tokenizer's own (BOS).
    ids = tokenizer(text, add_special_tokens=spec.prompt_style == "few-shot")["input_ids"]
    return list(ids)


def build_prompt(variant: LoadedVariant, question: str, passages: Sequence[Passage], cot: bool,
                 max_new_tokens: int) -> RenderedPrompt:
    spec, tok = variant.spec, variant.tokenizer
    context = variant.context_length
    max_new = min(max_new_tokens, max(1, context - MIN_PROMPT_TOKENS))
    budget = context - max_new
    kept = list(passages[: spec.num_passages])
    asked = question
    while True:
        text = render_text(spec, tok, asked, kept, cot)
        ids = encode_prompt(spec, tok, text)
        if len(ids) <= budget or not kept:
            break
        if len(kept) > 1:
            kept.pop()  # lowest-ranked passage goes first
            continue
        # Even one passage does not fit beside the question: shorten the question (keeping its end,
        # where the asking usually is) rather than answer from no passage at all.
        over = len(ids) - budget
        keep_chars = int(len(asked) * max(0.0, 1 - (over + 8) / max(1, len(encode_prompt(spec, tok, asked)))))
        if keep_chars < 40:
            kept.pop()
            asked = question
            continue
        asked = asked[-keep_chars:]
    truncated = len(ids) > budget
    if truncated:
        ids = ids[-budget:]  # keep the end: the question and the start of the answer
    stops = (FEW_SHOT_STOP,) if spec.prompt_style == "few-shot" else ()
    dropped = min(len(passages), spec.num_passages) - len(kept)
    return RenderedPrompt(ids, text, kept, dropped, max_new, stops, truncated, question_chars=len(asked),
                          question_cut=len(asked) < len(question), prefix=answer_prefix(cot))
