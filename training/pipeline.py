"""Stage 6: the whole pipeline — tokenizer, pretrain, instruct, distill, evaluate — for one profile.

    python -m training.pipeline --profile cpu-demo|gpu [--out artifacts/models] [--resume] [key=value ...]

With `--resume`, finished stages (their output published) are skipped and an interrupted one continues
from its last checkpoint. A finished stage whose product was made with other settings of the config
sections it reads (say `distill.alpha` changed) runs again, and so does every stage after one that ran.
`<out>/pipeline.json` records each stage's wall time.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from . import distill, evaluate, instruct, pretrain, tokenizer
from .artifacts import write_json
from .cli import cli, stage_parser
from .config import load_config
from .retrieval import index_fingerprint

log = logging.getLogger(__name__)

STAGES = [
    ("tokenizer", "tokenizer", lambda cfg, out, resume: tokenizer.run(cfg, out)),
    ("pretrain", "base", lambda cfg, out, resume: pretrain.run(cfg, out, resume)),
    ("instruct", "tuned", lambda cfg, out, resume: instruct.run(cfg, out, resume)),
    ("distill", "distilled", lambda cfg, out, resume: distill.run(cfg, out, resume)),
    ("evaluate", "report.json", lambda cfg, out, resume: evaluate.run(cfg, out)),
]


# The config sections each checkpoint is made from (`runtime` is left out: a device or dtype changes how
# fast, not what). `evaluate` names the index whose retrievals become the instruction examples; the
# tuned model also records that index's content (`index_fingerprint`), so a rebuilt index retrains it.
INPUTS = {"tokenizer": ("corpus", "tokenizer"),
          "base": ("corpus", "tokenizer", "pretrain"),
          "tuned": ("corpus", "tokenizer", "pretrain", "instruct", "evaluate"),
          "distilled": ("corpus", "tokenizer", "pretrain", "instruct", "evaluate", "distill")}


def _done(out: Path, product: str) -> bool:
    path = out / product
    return path.is_file() or (path / "tokenizer.json").exists()


def changed_sections(cfg, out: Path, product: str) -> list[str]:
    """The config sections whose values differ from those `product` was made with (its saved
    `training_config.json`); [] when they match or nothing was saved."""
    saved_path = out / product / "training_config.json"
    if product not in INPUTS or not saved_path.is_file():
        return []
    resolved = json.loads(saved_path.read_text(encoding="utf-8"))
    saved = resolved.get("config", {})
    now = json.loads(json.dumps(cfg.to_dict()))  # tuples as lists, as they were saved
    # A field added since `product` was made counts as its default then, so adding one retrains nothing.
    defaults = json.loads(json.dumps(type(cfg)().to_dict()))
    changed = [s for s in INPUTS[product] if _filled(saved.get(s), defaults.get(s)) != now.get(s)]
    # (a model saved before fingerprints were recorded has none: nothing to compare, it is kept)
    recorded = resolved.get("index")
    if product == "tuned" and "evaluate" not in changed and recorded is not None \
            and recorded != index_fingerprint(Path(cfg.evaluate.index)):
        changed.append("evaluate.index (its content)")
    return changed


def _filled(saved, default):
    """`saved` with the keys it lacks taken from `default` (nested dicts alike)."""
    if not isinstance(saved, dict) or not isinstance(default, dict):
        return saved
    return {**default, **{k: _filled(v, default.get(k)) for k, v in saved.items()}}


def run(cfg, out: Path, resume: bool = False) -> dict:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    upstream_ran = False  # once a stage has run, every later one runs from scratch: its input changed
    for stage, product, fn in STAGES:
        if stage == "tokenizer" and cfg.pretrain.init_from:
            log.info("pipeline: tokenizer skipped: pretraining starts from %s, with its own", cfg.pretrain.init_from)
            continue
        changed: list[str] = []
        if resume and not upstream_ran and _done(out, product):
            changed = changed_sections(cfg, out, product)
            if not changed:
                log.info("pipeline: %s already done (%s); skipping", stage, out / product)
                continue
            log.warning("pipeline: %s was made with other %s settings; running it again from scratch", stage,
                        "/".join(changed))
        # Only the first stage to run may continue from its checkpoint (an interrupted run); a stale or
        # downstream stage must not pick up the final checkpoint of the run it replaces.
        stage_resume = resume and not upstream_ran and not changed
        upstream_ran = True
        t0 = time.perf_counter()
        fn(cfg, out, stage_resume)
        timings[stage] = round(time.perf_counter() - t0, 1)
        log.info("pipeline: %s took %.1f s", stage, timings[stage])
    timings["total"] = round(time.perf_counter() - t_all, 1)
    record = {"profile": cfg.profile, "seconds": timings, "torch_threads": torch.get_num_threads()}
    write_json(out / "pipeline.json", record)
    log.info("pipeline: %s", ", ".join(f"{k} {v} s" for k, v in timings.items()))
    return record


@cli
def main(argv: list[str] | None = None) -> int:
    args = stage_parser("pipeline", __doc__).parse_args(argv)
    run(load_config(args.config, args.profile, args.overrides), Path(args.out), args.resume)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
