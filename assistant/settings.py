"""Decoding settings: one validated dataclass that maps onto `model.generate()`.

No decoding is written here: greedy, beam search and sampling (temperature, top-k, top-p) are the
ones transformers implements; this module only refuses impossible values with a message a student
understands, and translates the choice into `generate()` keyword arguments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

STRATEGIES = ("greedy", "beam", "sampling")
STRATEGY_LABELS = {"greedy": "voraz (greedy)", "beam": "búsqueda en haz (beam)", "sampling": "muestreo"}


class SettingsError(ValueError):
    """A decoding value out of range; the message names the value and the allowed range."""


@dataclass(frozen=True)
class DecodingSettings:
    strategy: str = "greedy"
    """greedy | beam | sampling."""
    num_beams: int = 3
    """Hypotheses kept per step (beam only)."""
    length_penalty: float = 1.0
    """> 1 favours longer beams, < 1 shorter ones (beam only)."""
    temperature: float = 0.7
    """Divides the logits: < 1 sharpens the distribution, > 1 flattens it (sampling only)."""
    top_k: int = 50
    """Keep only the k most probable tokens; 0 turns the filter off (sampling only)."""
    top_p: float = 0.95
    """Keep the smallest set of tokens whose probability adds up to p (sampling only)."""
    repetition_penalty: float = 1.0
    """> 1 makes tokens already in the text less likely (all strategies). Off by default: transformers counts
    the prompt's tokens too, so it pushes a model away from the very words of the passages it should quote
    (tuned SmolLM2 on 30 dev questions: 20 % correct at 1.1, 27 % at 1.0, where 1.1 also looped on
    «La respuesta es:»)."""
    stop_on_repeat: int = 10
    """> 0 ends the answer where it starts repeating a run of this many tokens it already wrote, and cuts
    the repeat (all strategies); 0 never. Only the answer counts, so quoting a passage is free. Small
    models loop («Rejection Sampling en LLaMA? Rejection Sampling en LLaMA? …») on a quarter of the course
    documents' questions; replayed on the saved answers of both dev sets, 10 tokens cut every loop it
    could without losing a correct answer (README, "Loops cut")."""
    min_sentences: int = 2
    """> 0 holds the end of the turn back until the answer has this many sentences (all strategies); 0 lets
    the model end where it wants. Meanwhile the model may only write tokens of the indexed documents and of its
    prompt, never a new turn, and where it would have ended it goes on with a word of its prompt or a new line
    (`generation.MinSentences`). The tuned model quotes one sentence where the key facts often take two: at 2,
    tuned answered 20 more of the 171 dev questions and lost none (README, "Two sentences")."""
    max_new_tokens: int = 128
    """Tokens generated at most; an answer cut there says so."""
    seed: int = 0
    """Sampling seed, so an answer can be reproduced."""

    def __post_init__(self) -> None:
        check = _Checker()
        check.choice("strategy", self.strategy, STRATEGIES)
        check.int_range("num_beams", self.num_beams, 2 if self.strategy == "beam" else 1, 16)
        check.float_range("length_penalty", self.length_penalty, -5.0, 5.0)
        check.float_range("temperature", self.temperature, 0.01, 5.0)
        check.int_range("top_k", self.top_k, 0, 1000)
        check.float_range("top_p", self.top_p, 0.01, 1.0)
        check.float_range("repetition_penalty", self.repetition_penalty, 1.0, 3.0)
        check.int_range("stop_on_repeat", self.stop_on_repeat, 0, 256)
        check.int_range("min_sentences", self.min_sentences, 0, 10)
        check.int_range("max_new_tokens", self.max_new_tokens, 1, 2048)
        check.int_range("seed", self.seed, 0, 2**32 - 1)

    def with_overrides(self, **changes) -> DecodingSettings:
        """A copy with the given fields changed; `None` values are ignored (unset CLI flags)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict:
        return asdict(self)

    def active_fields(self) -> tuple[str, ...]:
        """The fields that affect decoding with this strategy (what the UI enables)."""
        common = ("repetition_penalty", "stop_on_repeat", "min_sentences", "max_new_tokens")
        if self.strategy == "beam":
            return ("num_beams", "length_penalty", *common)
        if self.strategy == "sampling":
            return ("temperature", "top_k", "top_p", "seed", *common)
        return common

    def generate_kwargs(self) -> dict:
        """Keyword arguments for `model.generate()`. `do_sample` is always explicit, so a checkpoint's own
        generation_config cannot switch sampling on behind the user's back."""
        kwargs = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.strategy == "sampling":
            return kwargs | {"do_sample": True, "num_beams": 1, "temperature": self.temperature,
                             "top_k": self.top_k, "top_p": self.top_p}
        if self.strategy == "beam":
            return kwargs | {"do_sample": False, "num_beams": self.num_beams,
                             "length_penalty": self.length_penalty, "early_stopping": True}
        return kwargs | {"do_sample": False, "num_beams": 1}

    def describe(self) -> str:
        """Short Spanish summary for stats lines."""
        parts = [STRATEGY_LABELS[self.strategy]]
        if self.strategy == "beam":
            parts.append(f"haces={self.num_beams}")
        if self.strategy == "sampling":
            parts.append(f"T={self.temperature:g} top-k={self.top_k} top-p={self.top_p:g} semilla={self.seed}")
        return ", ".join(parts)


class _Checker:
    def choice(self, name: str, value, allowed: tuple) -> None:
        if value not in allowed:
            raise SettingsError(f"{name}={value!r} no es válido: elige uno de {', '.join(allowed)}")

    def int_range(self, name: str, value, lo: int, hi: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise SettingsError(f"{name}={value!r} no es válido: debe ser un entero entre {lo} y {hi}")

    def float_range(self, name: str, value, lo: float, hi: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise SettingsError(f"{name}={value!r} no es válido: debe ser un número entre {lo:g} y {hi:g}")
