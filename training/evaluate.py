"""Stage 5: the training-side figures of every variant, side by side, in `<out>/report.json` and in an
evaluation section of each variant's model card.

Per variant (untrained = the base architecture with random weights, for reference):
- held-out perplexity on the paragraphs kept out of pretraining;
- copy accuracy: top-1 accuracy on the repeats of random token spans, i.e. whether the model can copy from
  its context at all (what quoting a passage needs);
- parameters, layers and size on disk.

Answers are not scored here: `python -m assistant evaluate --report <out>/report.json` scores them through
the app's own answer path (retrieval, prompt fitting, decoding, citations) and adds them to the same report,
so every answer figure describes what a student gets.

    python -m training.evaluate [--profile cpu-demo | --config FILE] [--out DIR] [key=value ...]
"""

from __future__ import annotations

import logging
import math
import platform
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .artifacts import count_parameters, require, size_on_disk_mb, write_json
from .cli import cli, stage_parser
from .config import PipelineConfig, load_config
from .lm import build_data, copy_accuracy, heldout_loss
from .runtime import Runtime, setup_runtime
from .vocab import translate_blocks

log = logging.getLogger(__name__)
EVALUATED = ("base", "tuned", "distilled")
"""The trained checkpoints this stage scores (`assistant.registry.VARIANTS` also lists `scratch`)."""


def run(cfg: PipelineConfig, out: Path) -> dict:
    base_dir = require(out / "base", "python -m training.pretrain")
    rt = setup_runtime(cfg.runtime)  # the training stages' device and autocast dtype (bf16 where native)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    data = build_data(cfg, tokenizer)
    report: dict = {"variants": {}, "machine": machine(), "profile": cfg.profile}
    base_config = AutoModelForCausalLM.from_pretrained(base_dir).config
    torch.manual_seed(cfg.pretrain.optim.seed)  # the base's architecture (from scratch or not), random weights
    untrained = AutoModelForCausalLM.from_config(base_config).eval()
    report["variants"]["untrained"] = {**_scores(untrained, data.held_out, rt),
                                       "parameters": count_parameters(untrained)}
    del untrained
    for name in EVALUATED:
        path = out / name
        if not (path / "config.json").exists():
            log.warning("evaluate: %s not found in %s; skipping it", name, out)
            continue
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        held = data.held_out
        if model.config.vocab_size != base_config.vocab_size:  # a pruned student: the same text, its own ids
            held = translate_blocks(held, tokenizer, AutoTokenizer.from_pretrained(path))
        report["variants"][name] = {**_scores(model, held, rt),
                                    "parameters": count_parameters(model), "size_mb": size_on_disk_mb(path),
                                    "layers": model.config.num_hidden_layers}
        log.info("evaluate: %-9s perplexity %s, copy accuracy %s", name, report["variants"][name]["perplexity"],
                 report["variants"][name]["copy_accuracy"])
    report["bars"] = bars(report["variants"])
    write_json(out / "report.json", report)
    for name in EVALUATED:
        if name in report["variants"]:
            _append_card(out / name, report["variants"][name], report["machine"])
    print(format_report(report))
    return report


def _scores(model, blocks, rt: Runtime) -> dict:
    """Held-out perplexity and copy accuracy, on the stage's device (the `gpu` profile's GPU) under its
    autocast: bf16 on a CPU with AVX512-BF16 took the cpu-gemma3 stage from 139 to 96 s (perplexities within
    0.7 % of float32's; the 262k-token output projection and its loss dominate)."""
    model.to(rt.device)
    with rt.autocast():
        loss = heldout_loss(model, blocks, rt.device)
        copied = copy_accuracy(model, blocks, device=rt.device)
    model.cpu()
    return {"perplexity": round(math.exp(min(loss, 50)), 3), "copy_accuracy": copied}


def bars(rows: dict) -> dict:
    """The training-side bar: continued pretraining (or pretraining) lowered the held-out perplexity below
    that of the same architecture untrained. The answer bars come from `assistant.evaluation.bars`."""
    out = {}
    if {"base", "untrained"} <= rows.keys():
        out["base_ppl_below_untrained"] = rows["base"]["perplexity"] < rows["untrained"]["perplexity"]
    return out


def format_report(report: dict) -> str:
    cols = ["perplexity", "copy_accuracy", "parameters", "layers", "size_mb"]
    lines = ["variant    " + " ".join(f"{c:>15}" for c in cols)]
    for name, row in report["variants"].items():
        cells = [row.get(c) for c in cols]
        lines.append(f"{name:<10} " + " ".join(f"{'-' if x is None else x:>15}" for x in cells))
    lines.append("bars: " + ", ".join(f"{k}={v}" for k, v in report.get("bars", {}).items()))
    lines.append(f"machine: {report['machine']}")
    return "\n".join(lines)


def machine() -> str:
    """The machine a figure was measured on, as the reports name it."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads (CPU)"


def _append_card(path: Path, row: dict, machine: str) -> None:
    card = path / "README.md"
    text = card.read_text(encoding="utf-8").split("\n## Evaluation")[0].rstrip() + "\n"
    keys = ["perplexity", "copy_accuracy", "parameters", "size_mb"]
    text += ("\n## Evaluation\n\n`python -m training.evaluate` on " + machine + " (answer quality: `report.json`, "
             "section `answers`, from `python -m assistant evaluate`):\n\n| metric | value |\n| --- | --- |\n")
    text += "".join(f"| {k} | {row[k]} |\n" for k in keys if k in row)
    card.write_text(text, encoding="utf-8")


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("evaluate", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
