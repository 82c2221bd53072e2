"""The command line every stage shares: its argument parser, and the wrapper that turns expected
failures into one clear line (exit 2) and tears down the process group of a `torchrun` run.

Kept apart from `config.py` (what a configuration is) so that the configuration does not import the
training loop: `loop` needs `config`, and only the CLI needs both.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys

from .artifacts import MissingArtifact
from .checkpoint import CheckpointMismatch
from .config import DEFAULT_OUT, ConfigError
from .corpus import CorpusError
from .loop import TrainingDiverged


def stage_parser(stage: str, doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m training.{stage}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (default: the --profile's file)")
    parser.add_argument("--profile", default="cpu-demo", help="shipped profile: cpu-demo, gpu or tiny")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="models folder (default artifacts/models)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint of this stage")
    parser.add_argument("overrides", nargs="*", help="key=value, e.g. pretrain.optim.steps=20")
    return parser


def cli(main):
    """Wrap a stage's main(): expected failures print one clear line and exit 2, not a traceback."""
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        try:
            return main(argv)
        except (ConfigError, MissingArtifact, CorpusError, TrainingDiverged, CheckpointMismatch,
                FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()

    return wrapper
