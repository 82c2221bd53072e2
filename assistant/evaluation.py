"""Score every variant on question/answer pairs: token F1, ROUGE-L, valid citations, speed.

The retrieval runs once per question and every variant gets the same passages, as in the Compare view.
The extractive answer (the retrieved passages themselves) is scored too: a model should beat it. Because
every variant answers the same questions, differences are paired: `margins` gives each one's mean F1
difference with its bootstrap interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from training.metrics import (  # the same scores training.evaluate reports
    PairedDifference,
    paired_difference,
    rouge_l,
    token_f1,
)

from .answer import Answer, extractive_answer
from .engine import Engine
from .settings import DecodingSettings

EXTRACTIVE = "extractivo"


@dataclass
class VariantScore:
    variant: str
    n: int = 0
    token_f1: float = 0.0
    rouge_l: float = 0.0
    valid_citations: float = 0.0
    """Share of answers that cite at least one passage and none that was not given."""
    tokens_per_s: float = 0.0
    errors: int = 0
    f1s: list[float] = field(default_factory=list, repr=False)
    """Per question, in order (an error scores 0), for paired comparisons."""
    _speeds: list[float] = field(default_factory=list, repr=False)

    def add(self, answer: Answer, reference: str) -> None:
        self.n += 1
        if answer.error:
            self.errors += 1
            self.f1s.append(0.0)
            return
        self.f1s.append(token_f1(answer.text, reference))
        self.token_f1 += self.f1s[-1]
        self.rouge_l += rouge_l(answer.text, reference)
        self.valid_citations += answer.has_valid_citation
        if answer.stats is not None:
            self._speeds.append(answer.stats.tokens_per_s)

    def finish(self) -> VariantScore:
        if self.n:
            self.token_f1, self.rouge_l = self.token_f1 / self.n, self.rouge_l / self.n
            self.valid_citations /= self.n
        self.tokens_per_s = sum(self._speeds) / len(self._speeds) if self._speeds else 0.0
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("_speeds")
        d.pop("f1s")
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def evaluate(engine: Engine, qa: list[dict], settings: DecodingSettings | None = None, k: int = 5,
             progress=None) -> list[VariantScore]:
    settings = settings or DecodingSettings()
    scores = {v: VariantScore(v) for v in [*engine.variants, EXTRACTIVE]}
    for i, row in enumerate(qa, 1):
        prepared = engine.prepare(row["question"], k)
        for name, score in scores.items():
            answer = (extractive_answer(prepared.passages) if name == EXTRACTIVE
                      else engine.answer(prepared, name, settings))
            score.add(answer, row["answer"])
        if progress:
            progress(i, len(qa))
    return [s.finish() for s in scores.values()]


MARGINS = [("tuned", "base"), ("distilled", "tuned"), ("tuned", EXTRACTIVE)]
"""The comparisons the course makes: what instruction tuning adds, what distillation keeps, and whether the
model says more than the passages it was given."""


def margins(scores: list[VariantScore]) -> dict[str, PairedDifference]:
    """{'tuned - base': mean F1 difference + 95 % interval, ...} for the pairs in MARGINS that were scored."""
    by_name = {s.variant: s for s in scores}
    return {f"{a} - {b}": paired_difference(by_name[a].f1s, by_name[b].f1s)
            for a, b in MARGINS if a in by_name and b in by_name and by_name[a].n}


def format_scores(scores: list[VariantScore]) -> str:
    head = f"{'variante':<12} {'n':>4} {'F1':>6} {'ROUGE-L':>8} {'citas ok':>9} {'tokens/s':>9} {'errores':>8}"
    lines = [head, "-" * len(head)]
    for s in scores:
        lines.append(f"{s.variant:<12} {s.n:>4} {s.token_f1:>6.3f} {s.rouge_l:>8.3f} {s.valid_citations:>9.0%} "
                     f"{s.tokens_per_s:>9.1f} {s.errors:>8}")
    for name, diff in margins(scores).items():
        lines.append(f"F1 {name}: {diff}")
    return "\n".join(lines)
