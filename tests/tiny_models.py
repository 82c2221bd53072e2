"""Tiny random checkpoints in the layout `training` writes, so the app can be tested in seconds.

The weights are random: the answers are gibberish, but every code path (chat template, few-shot stop,
streaming, probabilities, citations) runs on real `transformers` models and tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path

COURSE = Path(__file__).resolve().parents[1] / "course"

VARIANTS = {
    "base": {"prompt_style": "few-shot", "layers": 2, "description": "Decodificador pequeño preentrenado."},
    "tuned": {"prompt_style": "chat", "layers": 2, "description": "Base + LoRA ajustado a instrucciones."},
    "distilled": {"prompt_style": "chat", "layers": 1, "description": "Estudiante destilado del tuned."},
}


def make_tiny_models(out: Path, vocab_size: int = 512) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.evaluate import bars
    from training.tokenizer import train_tokenizer

    texts = [p.read_text(encoding="utf-8") for p in sorted(COURSE.rglob("*.md"))]
    tok = train_tokenizer(texts, vocab_size)
    for i, (name, spec) in enumerate(VARIANTS.items()):
        torch.manual_seed(i)
        config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=spec["layers"], num_attention_heads=2, num_key_value_heads=2,
                             max_position_embeddings=1024, tie_word_embeddings=True,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        d = out / name
        LlamaForCausalLM(config).save_pretrained(d)
        tok.save_pretrained(d)
        meta = {"variant": name, "prompt_style": spec["prompt_style"], "max_passage_chars": 300,
                "num_passages": 3, "context_length": 768, "description": spec["description"]}
        (d / "assistant.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        (d / "README.md").write_text(f"# {name}\n\nModelo de prueba ({spec['description']})\n", encoding="utf-8")
        (d / "training_config.json").write_text(json.dumps({"layers": spec["layers"]}), encoding="utf-8")
        (d / "metrics.jsonl").write_text(_metrics(), encoding="utf-8")
    report = {"variants": {n: {"perplexity": 500.0 - 10 * i, "answer_f1": 0.1 * i, "tokens_per_s": 100.0 * (i + 1),
                               "f1_per_question": [0.1 * i + d for d in (0.1, 0.12, 0.08)]}
                           for i, n in enumerate(VARIANTS)}, "machine": "test"}
    report["bars"] = bars(report["variants"])  # what training.evaluate writes, from these rows
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return out


def _metrics() -> str:
    lines = []
    for step in range(1, 11):
        row = {"step": step, "loss": 6.0 - 0.3 * step, "lr": 1e-3, "tokens_per_s": 1000.0}
        if step % 5 == 0:
            row |= {"eval_loss": 6.2 - 0.3 * step, "eval_ppl": 2.718 ** (6.2 - 0.3 * step)}
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"
