"""Typed configuration for every training stage, loaded from a profile YAML plus `key=value` overrides.

A wrong key or an impossible value fails here, before any work, with a message that names it. The
YAML-to-dataclass builder (`index.config.build_config`) and `ConfigError` are the index's too: one way
to read a configuration in the project.
Profiles live in `training/configs/` (`cpu-demo`, `gpu`, `tiny`); `--config FILE` names any other.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from index.config import ConfigError, build_config, check, read_yaml_mapping

from .prompts import CITATION_STYLES

__all__ = ["ConfigError", "PipelineConfig", "load_config", "save_resolved"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_OUT = Path("artifacts/models")
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class ModelConfig:
    """A Llama-style decoder (RMSNorm, RoPE, SwiGLU), built through `transformers.LlamaConfig`."""

    hidden_size: int = 256
    """Width of the residual stream (the embedding size)."""
    intermediate_size: int = 688
    """Width of the SwiGLU feed-forward layer."""
    num_layers: int = 6
    """Decoder blocks."""
    num_heads: int = 4
    """Attention heads; hidden_size / num_heads is the head size (even, for RoPE)."""
    num_kv_heads: int = 4
    """Key/value heads (grouped-query attention when fewer than num_heads)."""
    max_position: int = 768
    """Longest sequence the model is built for, in tokens."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    tie_embeddings: bool = True
    """Share the input embedding with the output projection (fewer parameters)."""

    def validate(self, prefix: str = "") -> None:
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads", "max_position"):
            check(getattr(self, name) >= 1, f"{prefix}{name}={getattr(self, name)}: must be >= 1")
        check(self.hidden_size % self.num_heads == 0,
               f"{prefix}num_heads={self.num_heads} does not divide {prefix}hidden_size={self.hidden_size}")
        check(self.num_heads % self.num_kv_heads == 0,
               f"{prefix}num_kv_heads={self.num_kv_heads} does not divide {prefix}num_heads={self.num_heads}")
        check((self.hidden_size // self.num_heads) % 2 == 0,
               f"{prefix}hidden_size/num_heads={self.hidden_size // self.num_heads}: RoPE needs an even head size")

    def to_hf(self, vocab_size: int, tokenizer=None):
        from transformers import LlamaConfig

        ids = {}
        if tokenizer is not None:
            ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "pad_token_id": tokenizer.pad_token_id}
        return LlamaConfig(
            vocab_size=vocab_size, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads, max_position_embeddings=self.max_position,
            rope_theta=self.rope_theta, tie_word_embeddings=self.tie_embeddings, **ids,
        )


@dataclass
class OptimConfig:
    steps: int = 200
    """Optimizer steps. One step = batch_size x grad_accum sequences per process."""
    batch_size: int = 8
    """Sequences per micro-batch per process."""
    grad_accum: int = 1
    """Micro-batches accumulated into one optimizer step."""
    lr: float = 1e-3
    """Peak learning rate (after warm-up)."""
    min_lr_ratio: float = 0.1
    """Cosine decay ends at lr * min_lr_ratio."""
    warmup_steps: int = 20
    """Steps of linear warm-up from 0 to lr."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay, on matrices only (not norms or biases)."""
    beta2: float = 0.95
    """AdamW second-moment decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 turns clipping off)."""
    eval_every: int = 50
    """Steps between evaluations (and always at the last step)."""
    save_every: int = 50
    """Steps between resumable checkpoints (and always at the last step)."""
    log_every: int = 10
    """Steps between lines in metrics.jsonl."""
    seed: int = 0
    """Seeds the data order (`training.batching`) and the new weights."""

    def validate(self, prefix: str = "") -> None:
        for name in ("steps", "batch_size", "grad_accum", "eval_every", "save_every", "log_every"):
            check(getattr(self, name) >= 1, f"{prefix}{name}={getattr(self, name)}: must be >= 1")
        check(self.lr > 0, f"{prefix}lr={self.lr}: must be > 0")
        check(0 <= self.min_lr_ratio <= 1, f"{prefix}min_lr_ratio={self.min_lr_ratio}: must be in [0, 1]")
        check(0 <= self.warmup_steps < self.steps or self.steps == 1,
               f"{prefix}warmup_steps={self.warmup_steps}: must be >= 0 and < steps ({self.steps})")
        check(self.grad_clip >= 0, f"{prefix}grad_clip={self.grad_clip}: must be >= 0 (0 turns it off)")
        check(0 < self.beta2 < 1, f"{prefix}beta2={self.beta2}: must be in (0, 1)")


@dataclass
class RuntimeConfig:
    device: str = "auto"
    """'auto' (cuda when present), 'cpu' or 'cuda'."""
    dtype: str = "auto"
    """Autocast dtype: 'auto' (bfloat16 where the hardware runs it natively: a GPU that has it, a CPU with
    AVX512-BF16 or AMX; else float32), 'float32', 'bfloat16'. Weights and checkpoints stay float32."""
    compile: bool = False
    """torch.compile the model (GPU profile)."""
    tf32: bool = True
    """Allow TF32 matrix products on an Ampere or newer GPU."""
    threads: int = 0
    """torch CPU threads; 0 leaves PyTorch's default."""

    def validate(self, prefix: str = "") -> None:
        check(self.device in ("auto", "cpu", "cuda"), f"{prefix}device={self.device!r}: choose auto, cpu or cuda")
        check(self.dtype in ("auto", "float32", "bfloat16"),
               f"{prefix}dtype={self.dtype!r}: choose auto, float32 or bfloat16")
        check(self.threads >= 0, f"{prefix}threads={self.threads}: must be >= 0")


@dataclass
class CorpusConfig:
    docs: str = "course"
    """Folder of course documents (any format the indexer reads)."""
    held_out: float = 0.1
    """Share of every document's paragraphs kept out of pretraining to measure perplexity."""
    seed: int = 0
    """Seeds which paragraphs are held out."""

    def validate(self, prefix: str = "") -> None:
        check(0 < self.held_out < 0.5, f"{prefix}held_out={self.held_out}: must be in (0, 0.5)")


@dataclass
class TokenizerConfig:
    vocab_size: int = 4096
    """BPE vocabulary, special tokens included (256 bytes + merges)."""
    min_frequency: int = 2
    """A pair must occur this often to be merged."""

    def validate(self, prefix: str = "") -> None:
        check(self.vocab_size >= 300, f"{prefix}vocab_size={self.vocab_size}: must be >= 300 (256 bytes + merges)")
        check(self.min_frequency >= 1, f"{prefix}min_frequency={self.min_frequency}: must be >= 1")


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    """The decoder trained from scratch (ignored with init_from)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and schedule of the pretraining (or continued pretraining) run."""
    block_size: int = 256
    """Tokens per packed training sequence."""
    copy_share: float = 0.0
    """Share of training blocks that repeat a random span of corpus tokens (to grow induction heads: copying
    from the context). Off in the profiles: at cpu-demo scale it did not (README, "Results")."""
    init_from: str | None = None
    """Continue pretraining from a checkpoint directory or a GGUF file (then with its own tokenizer)."""

    def validate(self, prefix: str = "") -> None:
        check(self.block_size >= 8, f"{prefix}block_size={self.block_size}: must be >= 8")
        check(0 <= self.copy_share < 1, f"{prefix}copy_share={self.copy_share}: must be in [0, 1)")
        # With init_from the context length is the checkpoint's, checked when pretraining loads it.
        check(bool(self.init_from) or self.block_size <= self.model.max_position,
               f"{prefix}block_size={self.block_size} exceeds {prefix}model.max_position={self.model.max_position}")


@dataclass
class InstructConfig:
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by lora_alpha / lora_r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input."""
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    """Linear layers that get adapters (Llama names)."""
    lora_layers: int = 0
    """Adapters on the last N decoder layers only (0: every layer). The backward pass then stops at the first
    adapted layer: on SmolLM2's 30 layers, the last 15 make a CPU step about a third cheaper."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(steps=150, lr=2e-3, warmup_steps=10))
    """Optimizer and schedule of the LoRA run."""
    max_length: int = 640
    """Longest tokenized example; longer ones are dropped (and counted) rather than cut mid-answer."""
    num_passages: int = 3
    """Passages in each RAG training prompt (the answering one among distractors)."""
    max_passage_chars: int = 300
    """Characters of each passage shown in a training prompt."""
    held_out: float = 0.15
    """Share of questions kept out of training to validate on."""
    answer_chars: int = 260
    """Length of the reference answers (a passage's opening sentences, cut at a sentence end)."""
    variants: int = 3
    """RAG examples made from each training question (other distractors, other answer position)."""
    cot_share: float = 0.5
    """Share of training questions that also get a chain-of-thought example."""
    seed: int = 0
    """Seeds the split, the distractors and the answer positions."""
    later_sentences: bool = False
    """Also ask about sentences further into a section («¿Por qué …?» from a «…, porque …» sentence, «¿Cómo se
    calcula …?» from «… se calcula …»), shown in a window that opens a sentence or two before the answer, so
    the model learns to find the answering sentence instead of copying the window's first one."""
    citation: str = "lead"
    """Where an answer cites its passage: `lead` («Según [n]: …», the citation chosen before the words) or `end`
    («… [n]», after them). The app reads either."""
    written: list[str] = field(default_factory=list)
    """Files of training questions written by people (`training.written`: question, the sentence or two of the
    course that answer it, its file), added to the pairs made by rule; paths from the working directory."""
    train_end_of_turn: bool = False
    """Also train the end-of-turn token's embedding row (peft `trainable_token_indices`). A base model never
    saw its chat template's turn end: Gemma 3 base's row sits among thousands of near-copies (cosine > 0.99),
    so LoRA alone left rare tokens («ResBuffer») winning over it and answers ran into a second turn. With tied
    embeddings the row is trained through its output side only (see `training.instruct.lora_model`)."""

    def validate(self, prefix: str = "") -> None:
        check(self.answer_chars >= 40, f"{prefix}answer_chars={self.answer_chars}: must be >= 40")
        check(self.citation in CITATION_STYLES,
              f"{prefix}citation={self.citation!r}: must be one of {', '.join(CITATION_STYLES)}")
        check(self.variants >= 1, f"{prefix}variants={self.variants}: must be >= 1")
        check(0 <= self.cot_share <= 1, f"{prefix}cot_share={self.cot_share}: must be in [0, 1]")
        check(self.lora_r >= 1, f"{prefix}lora_r={self.lora_r}: must be >= 1")
        check(self.lora_layers >= 0, f"{prefix}lora_layers={self.lora_layers}: must be >= 0 (0: every layer)")
        check(0 <= self.lora_dropout < 1, f"{prefix}lora_dropout={self.lora_dropout}: must be in [0, 1)")
        check(bool(self.target_modules), f"{prefix}target_modules: must name at least one module")
        check(self.num_passages >= 1, f"{prefix}num_passages={self.num_passages}: must be >= 1")
        check(self.max_passage_chars >= 50, f"{prefix}max_passage_chars={self.max_passage_chars}: must be >= 50")
        check(0 < self.held_out < 0.5, f"{prefix}held_out={self.held_out}: must be in (0, 0.5)")


@dataclass
class DistillConfig:
    num_layers: int = 2
    """Student depth; its layers start as copies of teacher layers chosen by `layer_selection`."""
    layer_selection: str = "spread"
    """'spread' (evenly spaced, first and last kept), 'block' (the first num_layers - 1 and the last: one
    contiguous block of deep layers dropped) or 'loss' (drop the layers whose removal alone raises the held-out
    answer loss least: `training.kd.rank_layers`, one teacher forward pass per layer over `rank_examples`)."""
    rank_examples: int = 16
    """Held-out examples `layer_selection: loss` scores each one-layer cut on."""
    alpha: float = 0.5
    """Weight of the KD term: loss = (1-alpha)*CE + alpha*T^2*KL(teacher || student)."""
    temperature: float = 2.0
    """Softmax temperature of both distributions in the KD term."""
    top_k: int = 0
    """Keep only the teacher's top-k logits per answer token (renormalized in the KD term); 0 keeps all. For a
    large vocabulary: the full logits of every training answer do not fit in memory."""
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(steps=150, lr=1e-3, warmup_steps=10))
    """Optimizer and schedule of the student's run."""
    sequence_kd: bool = False
    """Also train on the teacher's own greedy answers (sequence-level KD)."""
    vocab_top: int = 0
    """Prune the student's vocabulary (training/vocab.py) to the `vocab_top` first tokens plus every token
    the course text and the training examples use; 0 keeps the teacher's. Gemma 3's 262k-row output
    projection is most of its per-token cost."""
    cot_share: float = 1.0
    """Share of the instruction data's chain-of-thought examples the student trains on (the first ones, in
    the data's order); 1 keeps them all, 0 trains it on plain answers only."""
    kd: bool = True
    """Train the student (`optim.steps` KD steps). False publishes it as cut from the teacher: the kept
    layers and vocabulary rows, unchanged, scored on the held-out answers: what a cut costs before any
    training (cpu-gemma3's 17-layer cut answers as many course-docs questions as tuned, but with some English
    words in its Spanish; docs/experiments.md, stop 41)."""

    def validate(self, prefix: str = "") -> None:
        check(self.num_layers >= 1, f"{prefix}num_layers={self.num_layers}: must be >= 1")
        check(self.kd or not self.sequence_kd,
              f"{prefix}sequence_kd=true needs kd=true: the teacher's answers are KD training data")
        check(0 <= self.alpha <= 1, f"{prefix}alpha={self.alpha}: must be in [0, 1]")
        check(self.temperature > 0, f"{prefix}temperature={self.temperature}: must be > 0")
        check(self.layer_selection in ("spread", "block", "loss"),
               f"{prefix}layer_selection={self.layer_selection!r}: choose spread, block or loss")
        check(self.rank_examples >= 1, f"{prefix}rank_examples={self.rank_examples}: must be >= 1")
        check(self.top_k >= 0, f"{prefix}top_k={self.top_k}: must be >= 0 (0: the full vocabulary)")
        check(self.vocab_top >= 0, f"{prefix}vocab_top={self.vocab_top}: must be >= 0 (0: the teacher's vocabulary)")
        check(0 <= self.cot_share <= 1, f"{prefix}cot_share={self.cot_share}: must be in [0, 1]")


@dataclass
class EvaluateConfig:
    index: str = "artifacts/index"
    """Index that retrieves the passages of the instruction examples, as the app would (built if missing)."""

    def validate(self, prefix: str = "") -> None:
        check(bool(self.index), f"{prefix}index: must name an index folder")


@dataclass
class PipelineConfig:
    profile: str = "cpu-demo"
    """Name of the profile this config came from (recorded in every artifact)."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """What the models are trained on."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    """Stage 1: the BPE tokenizer (unused when pretraining starts from a GGUF)."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """Stage 2: pretraining from scratch or continued pretraining."""
    instruct: InstructConfig = field(default_factory=InstructConfig)
    """Stage 3: LoRA instruction tuning on RAG examples."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """Stage 4: the distilled student."""
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    """Stage 5, and the index the instruction examples are retrieved from."""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    """Device, precision and threads, shared by every stage."""

    def validate(self, prefix: str = "") -> None:
        # With init_from the teacher's depth is the checkpoint's, checked when distillation loads it.
        check(bool(self.pretrain.init_from) or self.distill.num_layers <= self.pretrain.model.num_layers,
              f"{prefix}distill.num_layers={self.distill.num_layers} exceeds {prefix}pretrain.model.num_layers="
              f"{self.pretrain.model.num_layers}: the student must be smaller than its teacher")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def profile_path(profile: str) -> Path:
    path = CONFIG_DIR / f"{profile}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r}; shipped profiles: {', '.join(names)}")
    return path


def parse_overrides(items: list[str]) -> dict:
    """`pretrain.optim.steps=10` -> {'pretrain': {'optim': {'steps': 10}}} (values parsed as YAML)."""
    tree: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. pretrain.optim.steps=10")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        node = tree
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def load_config(path: str | Path | None = None, profile: str | None = None,
                overrides: list[str] | dict | None = None) -> PipelineConfig:
    """Profile (or file) + overrides -> a validated PipelineConfig."""
    path = Path(path) if path else profile_path(profile or "cpu-demo")
    data = read_yaml_mapping(path, ConfigError)
    if overrides:
        extra = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
        data = _merge(data, extra)
    try:
        return build_config(PipelineConfig, data)
    except TypeError as exc:  # a dataclass refused a value shape
        raise ConfigError(f"config {path}: {exc}") from exc


def save_resolved(cfg: PipelineConfig, path: Path, extra: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"config": cfg.to_dict(), **(extra or {})}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
