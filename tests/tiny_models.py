"""Tiny random checkpoints in the layout `training` writes, so the app can be tested in seconds.

The weights are random: the answers are gibberish, but every code path (chat template, few-shot stop,
streaming, probabilities, citations) runs on real `transformers` models and tokenizers.
"""

from __future__ import annotations

import json
from pathlib import Path

COURSE = Path(__file__).resolve().parents[1] / "course"

TINY_VARIANTS = {
    "base": {"prompt_style": "few-shot", "layers": 2, "description": "Decodificador pequeño preentrenado."},
    "tuned": {"prompt_style": "chat", "layers": 2, "description": "Base + LoRA ajustado a instrucciones."},
    "distilled": {"prompt_style": "chat", "layers": 1, "description": "Estudiante destilado del tuned."},
}


def make_tiny_models(out: Path, vocab_size: int = 512) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from assistant.evaluation import update_report
    from training.artifacts import card_data
    from training.bpe import train_tokenizer

    texts = [p.read_text(encoding="utf-8") for p in sorted(COURSE.rglob("*.md"))]
    tok = train_tokenizer(texts, vocab_size)
    for i, (name, spec) in enumerate(TINY_VARIANTS.items()):
        torch.manual_seed(i)
        config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                             num_hidden_layers=spec["layers"], num_attention_heads=2, num_key_value_heads=2,
                             max_position_embeddings=1024, tie_word_embeddings=True,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        d = out / name
        model = LlamaForCausalLM(config)
        model.save_pretrained(d)
        tok.save_pretrained(d)
        meta = {"variant": name, "prompt_style": spec["prompt_style"], "max_passage_chars": 300,
                "num_passages": 3, "context_length": 768, "description": spec["description"]}
        (d / "assistant.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        (d / "README.md").write_text(f"# {name}\n\nModelo de prueba ({spec['description']})\n", encoding="utf-8")
        if name != "distilled":  # distilled keeps only its README, as a checkpoint from before card.json
            card = card_data(name, model, "instruct", {"heldout_answer_ppl": 80.5, "init_from": "smollm2"},
                             {"profile": "test"}, spec["description"])
            (d / "card.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
        (d / "training_config.json").write_text(json.dumps({"layers": spec["layers"]}), encoding="utf-8")
        (d / "metrics.jsonl").write_text(_metrics(), encoding="utf-8")
    report = {"variants": {n: {"perplexity": 500.0 - 10 * i, "copy_accuracy": 0.1 * i, "parameters": 1000 * (i + 1)}
                           for i, n in enumerate(TINY_VARIANTS)}, "machine": "test"}
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    update_report(out / "report.json", "course", _answer_scores(), {"questions": 3})  # as assistant evaluate does
    return out


def _answer_scores():
    """Hand-made scores of 3 questions: tuned right on all, base on one, distilled on two."""
    from assistant.evaluation import ScoredAnswer, VariantScore

    right = {"base": [1, 0, 0], "tuned": [1, 1, 1], "distilled": [1, 1, 0], "extractivo": [1, 0, 0],
             "primeras-frases": [0, 0, 1]}
    scores = []
    for name, marks in right.items():
        s = VariantScore(name)
        for i, ok in enumerate(marks):
            s.answers.append(ScoredAnswer(f"¿pregunta {i}?", name, "Según [1]: ...", "ref", [["x"]], float(ok),
                                          float(ok), 0.2 + 0.1 * ok, 0.2, 12, True,
                                          tokens_per_s=None if name in ("extractivo", "primeras-frases")
                                          else 100.0 * (2 if name == "distilled" else 1)))
        scores.append(s)
    return scores


def _metrics() -> str:
    lines = []
    for step in range(1, 11):
        row = {"step": step, "loss": 6.0 - 0.3 * step, "lr": 1e-3, "tokens_per_s": 1000.0}
        if step % 5 == 0:
            row |= {"eval_loss": 6.2 - 0.3 * step, "eval_ppl": 2.718 ** (6.2 - 0.3 * step)}
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"
