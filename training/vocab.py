"""Vocabulary pruning: a student that keeps only the tokens the course needs.

Gemma 3 270M spends most of each generated token on its output projection: 262,144 vocabulary rows of
640 weights (168 M of its 268 M parameters) against 100 M in its 18 layers, and decoding one token on a
CPU reads every one of them. A Spanish course uses a few thousand of those tokens, so the student keeps

- the tokens the tokenizer produces on the training text (course passages, prompts, answers),
- the `top` lowest-id tokens (SentencePiece and BPE vocabularies are ordered by merge priority, roughly
  by frequency: the general-purpose Spanish and English a new document needs),
- the special tokens (not the `<unusedN>` placeholders) and the 256 byte-fallback tokens (or, for a
  byte-level BPE, its 256-symbol alphabet),
- and every intermediate token BPE builds them from,

and drops the rest from its tokenizer (vocabulary and merges) and from its embedding matrix (tied with the
output projection). Because every merge BPE applies to the training text is kept, and the kept merges are
a subset of the original ones in their original order, the pruned tokenizer splits that text exactly as
the teacher's does (the greedy best-merge choice is unchanged when only merges it never chose are
removed): the teacher's logits line up with the student's tokens position by position. A word outside the
kept vocabulary is split into smaller kept pieces, down to bytes, so no text is ever lost.

Kept ids are renumbered in their original order (`keep[new_id] == old_id`), so special tokens stay first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import torch
from tokenizers import Tokenizer

PLACEHOLDER = re.compile(r"<unused\d+>")
"""Reserved placeholder tokens (Gemma's 6,242 `<unusedN>`): never generated, never kept by a pruned vocabulary."""
BYTE = re.compile(r"<0x[0-9A-F]{2}>")


def _model_json(tokenizer) -> dict:
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    if data["model"]["type"] != "BPE":
        raise ValueError(f"vocabulary pruning needs a BPE tokenizer, not {data['model']['type']}")
    return data


def _merges(model: dict) -> list[tuple[str, str]]:
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def bpe_parts(token: str, ranks: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    """BPE run on `token`'s characters alone: (the symbols it ends with, every symbol it built).

    A token that the tokenizer emits in a longer text was built by exactly these merges: merges never
    crossed its boundaries, and inside them the best-ranked available merge comes first either way."""
    symbols = list(token)
    built = list(symbols)
    while len(symbols) > 1:
        best, at = None, -1
        for i in range(len(symbols) - 1):
            r = ranks.get((symbols[i], symbols[i + 1]))
            if r is not None and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        symbols[at:at + 2] = [symbols[at] + symbols[at + 1]]
        built.append(symbols[at])
    return symbols, built


def kept_ids(tokenizer, texts: Iterable[str], top: int) -> list[int]:
    """Sorted ids of the tokens a pruned vocabulary keeps (see the module docstring)."""
    data = _model_json(tokenizer)
    vocab: dict[str, int] = data["model"]["vocab"]
    ranks = {m: r for r, m in enumerate(_merges(data["model"]))}
    special = {t["content"] for t in data.get("added_tokens", []) if not PLACEHOLDER.fullmatch(t["content"])}
    by_id = {i: t for t, i in vocab.items()}
    used: set[int] = set()
    for text in texts:
        used.update(tokenizer(text, add_special_tokens=False)["input_ids"])
    used_tokens = {by_id[i] for i in used if i in by_id}
    keep = {t for t in vocab if t in special or BYTE.fullmatch(t)}
    if not data["model"].get("byte_fallback"):  # byte-level BPE: its 256-symbol alphabet spells anything
        keep |= {t for t in vocab if len(t) == 1}
    for token in used_tokens | {t for i, t in by_id.items() if i < top and not PLACEHOLDER.fullmatch(t)}:
        if token in keep:
            continue
        symbols, built = bpe_parts(token, ranks)
        if symbols == [token] or token in used_tokens:
            # (a used token BPE cannot build alone would be a tokenizer oddity: kept as is all the same)
            keep.add(token)
            keep.update(s for s in built if s in vocab)
    return sorted(vocab[t] for t in keep)


def prune_tokenizer(tokenizer, keep: list[int]):
    """A copy of `tokenizer` (same class, chat template and special tokens) with only the `keep` ids,
    renumbered 0..len(keep)-1 in their original order, and only the merges among kept tokens."""
    data = _model_json(tokenizer)
    model = data["model"]
    by_id = {i: t for t, i in model["vocab"].items()}
    new_id = {old: new for new, old in enumerate(keep)}
    tokens = {by_id[old]: new for old, new in new_id.items()}
    model["vocab"] = tokens
    model["merges"] = [[a, b] for a, b in _merges(model) if a in tokens and b in tokens and a + b in tokens]
    data["added_tokens"] = [{**t, "id": new_id[t["id"]]} for t in data.get("added_tokens", []) if t["id"] in new_id]
    _remap_post_processor(data.get("post_processor"), tokens)
    backend = Tokenizer.from_str(json.dumps(data))
    special = {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "unk_token", "pad_token")
               if getattr(tokenizer, k, None) is not None}
    pruned = type(tokenizer)(tokenizer_object=backend, **special)
    pruned.chat_template = tokenizer.chat_template
    pruned.padding_side = tokenizer.padding_side
    return pruned


def _remap_post_processor(node, tokens: dict[str, int]) -> None:
    """TemplateProcessing stores its special tokens' ids: give them their new ones."""
    if isinstance(node, dict):
        if "tokens" in node and "ids" in node and isinstance(node["ids"], list):
            node["ids"] = [tokens[t] for t in node["tokens"]]
        for v in node.values():
            _remap_post_processor(v, tokens)
    elif isinstance(node, list):
        for v in node:
            _remap_post_processor(v, tokens)


def prune_embeddings(model, keep: list[int]) -> None:
    """Keep only the `keep` rows of the input embedding and, when untied, of the output projection; the
    config's vocabulary size and special ids (and the generation config's) follow."""
    index = torch.tensor(keep)
    new_id = {old: new for new, old in enumerate(keep)}
    emb = model.get_input_embeddings()
    emb.weight = torch.nn.Parameter(emb.weight.data[index].clone())
    emb.num_embeddings = len(keep)
    if emb.padding_idx is not None:
        emb.padding_idx = new_id.get(emb.padding_idx)
    head = model.get_output_embeddings()
    if model.config.tie_word_embeddings:
        head.weight = emb.weight
    else:
        head.weight = torch.nn.Parameter(head.weight.data[index].clone())
        if head.bias is not None:
            head.bias = torch.nn.Parameter(head.bias.data[index].clone())
    head.out_features = len(keep)
    model.config.vocab_size = len(keep)
    for cfg in (model.config, model.generation_config):
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(cfg, name, None)
            if isinstance(value, list):
                setattr(cfg, name, [new_id[v] for v in value if v in new_id])
            elif value is not None:
                setattr(cfg, name, new_id.get(value))
    suppress = getattr(model.generation_config, "suppress_tokens", None)
    if suppress:
        kept = [new_id[i] for i in suppress if i in new_id]
        model.generation_config.suppress_tokens = kept or None


def id_map(source, target) -> torch.Tensor:
    """(len(source),) tensor: each `source` token id's id in `target` (a pruned copy of it), -1 where
    `target` dropped the token."""
    table = torch.full((len(source),), -1, dtype=torch.long)
    for token, i in target.get_vocab().items():
        j = source.convert_tokens_to_ids(token)
        if j is not None and 0 <= j < len(source):
            table[j] = i
    return table


def translate_blocks(blocks: torch.Tensor, source, target) -> torch.Tensor:
    """Token blocks of `source` ids as `target` ids (`id_map`); the blocks holding a dropped token are left
    out. For a pruned tokenizer built from that text, every block carries over unchanged."""
    table = id_map(source, target)
    mapped = table[blocks]
    return mapped[(mapped >= 0).all(dim=1)]
