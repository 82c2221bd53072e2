"""Score every variant's answers to people-written questions, produced by the app's own answer path.

Each question is retrieved once (`Engine.prepare`, as the Comparar tab does) and answered by every variant
through `Engine.answer` with the given `DecodingSettings`: the same context fitting, decoding and citation
resolution a student gets. Two baselines answer from the same passages without a model: `extractivo` (the
passage sentences that best match the question, the app's floor when no model is there) and
`primeras-frases` (the first sentences of the top 3 passages, the earlier floor).

Per answer: correctness by key facts (`training.metrics.key_scores`: every group of the question's `keys`
present), the share of key groups present, token F1 and ROUGE-L against the reference, answer length in
words, whether its citations are valid, and the generation stats. Because every variant answers the same
questions, differences are paired: `margins` gives each comparison's mean difference with its bootstrap
interval, and `bars` the quality bars of the training issue.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.metrics import PairedDifference, key_scores, paired_difference, rouge_l, token_f1
from training.prompts import focus

from .answer import EXTRACTIVE, LEAD, Answer, extractive_answer, lead_answer
from .engine import Engine, Prepared
from .settings import DecodingSettings

BASELINES = (EXTRACTIVE, LEAD)
METRICS = ("correct", "key_share", "token_f1", "rouge_l", "keys_shown", "keys_first")

MARGINS = [("tuned", "base"), ("tuned", EXTRACTIVE), ("tuned", LEAD), ("distilled", "tuned")]
"""The comparisons the course makes: what instruction tuning adds, whether the model says more than the
passages' best sentences (and than their first ones), and what distillation loses."""


@dataclass
class ScoredAnswer:
    """One variant's answer to one question, with its scores (what `--answers` writes, one per line)."""

    question: str
    variant: str
    answer: str
    reference: str
    keys: list[list[str]]
    correct: float
    """1.0 when every key group is present, 0.0 when not, NaN when the question has no keys."""
    key_share: float
    token_f1: float
    rouge_l: float
    words: int
    valid_citations: bool
    supported_citations: bool = False
    """Cites at least one passage, and every passage it cites contains what it says (`Citation.supported`)."""
    citations: list[dict] = field(default_factory=list)
    reasoning: str = ""
    passages: int = 0
    new_tokens: int = 0
    tokens_per_s: float | None = None
    ttft_s: float | None = None
    seconds: float | None = None
    finish: str = ""
    error: str | None = None
    keys_shown: float = float("nan")
    """1.0 when every key group is in what the variant read (a model: its prompt's passages as `focus` showed
    them; a baseline: the top 3 passages it picks sentences from), NaN without keys. A question whose keys were
    not shown cannot be answered by reading: it tells a context failure from a reading one."""
    keys_first: float = float("nan")
    """1.0 when every key group is in the first passage the variant read (a model: window [1] of its prompt; a
    baseline: the top passage). Split by it, a variant's correct answers tell whether it chooses the passage
    that answers or reads [1] whatever it holds (`format_scores`' «claves en [1]» lines)."""

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 4) if isinstance(v, float) else v)
                for k, v in d.items()}


def score_answer(row: dict, answer: Answer, shown: Sequence[str] = ()) -> ScoredAnswer:
    """`shown`: the passages as the variant read them (`shown_windows`), for `keys_shown` and `keys_first`."""
    keys = row.get("keys", [])
    text = "" if answer.error else answer.text
    correct, share = key_scores(text, keys)
    stats = answer.stats
    return ScoredAnswer(
        question=row["question"], variant=answer.variant, answer=text, reference=row["answer"], keys=keys,
        correct=correct, key_share=share, token_f1=token_f1(text, row["answer"]),
        rouge_l=rouge_l(text, row["answer"]) if text else 0.0, words=len(text.split()),
        valid_citations=answer.has_valid_citation,
        supported_citations=bool(answer.citations) and all(c.supported for c in answer.citations),
        citations=[{"number": c.number, "source": c.where(), "support": round(c.support, 3)}
                   for c in answer.citations],
        reasoning=answer.reasoning, passages=len(answer.passages),
        new_tokens=stats.new_tokens if stats else 0,
        tokens_per_s=stats.tokens_per_s if stats and stats.new_tokens > 1 else None,
        ttft_s=stats.ttft_s if stats else None, seconds=stats.seconds if stats else None,
        finish=stats.finish if stats else "", error=answer.error, keys_shown=key_scores("\n".join(shown), keys)[0],
        keys_first=key_scores(shown[0] if shown else "", keys)[0])


def shown_windows(engine: Engine, question: str, answer: Answer) -> list[str]:
    """What produced `answer` read, passage by passage: the extractive answers pick from the whole of the top 3
    passages; a model reads each passage of its prompt as `focus` cuts it to the variant's `max_passage_chars`."""
    if answer.extractive or not answer.variant or answer.variant not in engine.variants:
        return [p.text for p in answer.passages[:3]]
    width = engine.registry.spec(answer.variant).max_passage_chars
    return [focus(p.text, question, width) for p in answer.passages]


@dataclass
class VariantScore:
    variant: str
    answers: list[ScoredAnswer] = field(default_factory=list)

    def values(self, metric: str) -> list[float]:
        """Per question, in order; NaN where the metric does not apply (correct without keys)."""
        return [float(getattr(a, metric)) for a in self.answers]

    def mean(self, metric: str) -> float:
        vals = [v for v in self.values(metric) if not math.isnan(v)]
        return statistics.fmean(vals) if vals else float("nan")

    @property
    def n(self) -> int:
        return len(self.answers)

    @property
    def errors(self) -> int:
        return sum(a.error is not None for a in self.answers)

    def speed(self) -> dict:
        tps = [a.tokens_per_s for a in self.answers if a.tokens_per_s]
        ttft = [a.ttft_s for a in self.answers if a.ttft_s is not None]
        secs = [a.seconds for a in self.answers if a.seconds is not None]
        return {"tokens_per_s": round(statistics.median(tps), 1) if tps else None,
                "ttft_s": round(statistics.median(ttft), 3) if ttft else None,
                "seconds_per_answer": round(statistics.fmean(secs), 3) if secs else None}

    def to_dict(self) -> dict:
        out = {"n": self.n, "keyed": sum(not math.isnan(v) for v in self.values("correct"))}
        out |= {m: _round(self.mean(m)) for m in METRICS}
        out |= {"words": _round(self.mean("words"), 1), "valid_citations": _round(self.mean("valid_citations")),
                "supported_citations": _round(self.mean("supported_citations"))}
        out |= self.speed() | {"errors": self.errors}
        out["per_question"] = {m: [_round(v) for v in self.values(m)] for m in ("correct", "key_share", "token_f1")}
        return out


def _round(x: float, digits: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(x, digits)


def answer_one(engine: Engine, prepared: Prepared, variant: str, settings: DecodingSettings) -> Answer:
    """The answer the app shows for `variant` (or a baseline's) to an already retrieved question."""
    if variant == EXTRACTIVE:
        return extractive_answer(prepared.question.text, prepared.passages, idf=prepared.idf)
    if variant == LEAD:
        return lead_answer(prepared.passages)
    return engine.answer(prepared, variant, settings)


def evaluate(engine: Engine, qa: list[dict], settings: DecodingSettings | None = None, k: int = 5,
             variants: Sequence[str] | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[VariantScore]:
    """Every variant (and both baselines) on every question, the variants in turns question after question,
    so a change in the machine's load falls on all of them alike and their speed ratio holds."""
    settings = settings or DecodingSettings()
    names = [*(variants or engine.variants), *BASELINES]
    scores = {v: VariantScore(v) for v in names}
    for i, row in enumerate(qa, 1):
        prepared = engine.prepare(row["question"], k)
        for name, score in scores.items():
            answer = answer_one(engine, prepared, name, settings)
            score.answers.append(score_answer(row, answer, shown_windows(engine, prepared.question.text, answer)))
        if progress:
            progress(i, len(qa))
    return list(scores.values())


# ---------------------------------------------------------------------------- comparisons

def _paired(a: list[float], b: list[float]) -> PairedDifference | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
    return paired_difference([x for x, _ in pairs], [y for _, y in pairs]) if pairs else None


def margins(per_question: dict[str, dict[str, list[float]]], metric: str = "correct") -> dict[str, PairedDifference]:
    """{'tuned - base': mean difference + 95 % paired interval, ...} for the pairs of MARGINS that were scored.
    `per_question`: variant -> metric -> per-question values (questions in the same order for all)."""
    out = {}
    for a, b in MARGINS:
        if a in per_question and b in per_question and (d := _paired(per_question[a][metric],
                                                                     per_question[b][metric])):
            out[f"{a} - {b}"] = d
    return out


def bars(rows: dict[str, dict], per_question: dict[str, dict[str, list[float]]]) -> dict:
    """The bars of the answer-quality issue, from one run's pooled figures (`rows`: variant -> means)."""
    out: dict = {}
    correct = {v: r["correct"] for v, r in rows.items() if r.get("correct") is not None}
    if {"tuned", LEAD} <= correct.keys():
        out["tuned_correct_vs_lead"] = round(correct["tuned"] / max(correct[LEAD], 1e-9), 2)
        out["tuned_correct_at_least_2x_lead"] = correct["tuned"] >= 2 * correct[LEAD]
    if {"tuned", EXTRACTIVE} <= correct.keys():
        out["tuned_correct_above_extractive"] = correct["tuned"] > correct[EXTRACTIVE]
    for name, diff in margins(per_question).items():
        out[f"correct: {name}"] = {**diff.to_dict(), "clear": diff.clear}
    if {"tuned", "distilled"} <= correct.keys():
        out["distilled_correct_share"] = round(correct["distilled"] / max(correct["tuned"], 1e-9), 3)
        out["distilled_keeps_85pct"] = out["distilled_correct_share"] >= 0.85
        t, d = rows["tuned"].get("tokens_per_s"), rows["distilled"].get("tokens_per_s")
        if t and d:
            out["distilled_speedup"] = round(d / t, 2)
            out["distilled_at_least_2x_faster"] = d >= 2 * t
    return out


def best_variant(rows: dict[str, dict]) -> str | None:
    """What answered most often correctly (key share, then F1, break ties): a model variant, or the
    extractive answer when no model beats it; None when no model was scored. The Chat opens on it. The
    first sentences of the top passages (`primeras-frases`) are never chosen: three pasted openings are
    not an answer, however often they contain it."""
    models = [(v, r) for v, r in rows.items() if v not in BASELINES and r.get("correct") is not None]
    if not models:
        return None
    candidates = models + [(v, r) for v, r in rows.items() if v == EXTRACTIVE and r.get("correct") is not None]
    return max(candidates, key=lambda vr: (vr[1]["correct"], vr[1]["key_share"] or 0, vr[1]["token_f1"] or 0))[0]


# ---------------------------------------------------------------------------- report and answers files

def write_answers(path: Path, set_name: str, scores: list[VariantScore]) -> None:
    """Every answer as a JSON line (question, variant, answer, citations, scores), question by question."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(scores[0].n if scores else 0):
            for s in scores:
                f.write(json.dumps({"set": set_name, "index": i, **s.answers[i].to_dict()}, ensure_ascii=False) + "\n")


def update_report(path: Path, set_name: str, scores: list[VariantScore], meta: dict) -> dict:
    """Put this question set's results into `report.json` (keeping what `training.evaluate` wrote and the
    other sets), then recompute the pooled figures, the bars and the best variant over every set in it."""
    report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    sets = report.setdefault("answers", {})
    sets[set_name] = {**meta, "variants": {s.variant: s.to_dict() for s in scores}}
    pooled = pool(sets)
    report["answers_pooled"] = {"sets": sorted(sets), **pooled}
    report["answer_bars"] = bars(pooled["variants"], pooled["per_question"])
    report["best_variant"] = best_variant(pooled["variants"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return report


def pool(sets: dict[str, dict]) -> dict:
    """Variant means over every question of every set (only variants scored in all of them)."""
    names = set.intersection(*(set(s["variants"]) for s in sets.values())) if sets else set()
    per_question: dict[str, dict[str, list[float]]] = {}
    rows: dict[str, dict] = {}
    for v in sorted(names):
        pq = {m: [x for s in sets.values() for x in s["variants"][v]["per_question"][m]]
              for m in ("correct", "key_share", "token_f1")}
        per_question[v] = {m: [float("nan") if x is None else x for x in xs] for m, xs in pq.items()}
        n = sum(s["variants"][v]["n"] for s in sets.values())
        rows[v] = {m: _round(statistics.fmean([x for x in per_question[v][m] if not math.isnan(x)]))
                   if any(not math.isnan(x) for x in per_question[v][m]) else None for m in pq}
        rows[v]["n"] = n
        for m in ("words", "tokens_per_s", "ttft_s", "seconds_per_answer", "rouge_l", "valid_citations",
                  "supported_citations", "keys_shown", "keys_first"):
            vals = [(s["variants"][v][m], s["variants"][v]["n"]) for s in sets.values()
                    if s["variants"][v].get(m) is not None]
            rows[v][m] = _round(sum(x * w for x, w in vals) / sum(w for _, w in vals)) if vals else None
    return {"variants": rows, "per_question": per_question}


def format_scores(scores: list[VariantScore]) -> str:
    head = (f"{'variante':<16} {'n':>4} {'correctas':>9} {'claves':>7} {'F1':>6} {'ROUGE-L':>8} {'palabras':>8} "
            f"{'citas ok':>8} {'respald.':>8} {'visibles':>8} {'tokens/s':>8} {'1er token':>9} {'s/resp.':>7} {'errores':>7}")
    lines = [head, "-" * len(head)]
    for s in scores:
        sp = s.speed()
        cells = [_fmt(s.mean("correct"), "{:.0%}"), _fmt(s.mean("key_share"), "{:.2f}"),
                 _fmt(s.mean("token_f1"), "{:.3f}"), _fmt(s.mean("rouge_l"), "{:.3f}"),
                 _fmt(s.mean("words"), "{:.1f}"), _fmt(s.mean("valid_citations"), "{:.0%}"),
                 _fmt(s.mean("supported_citations"), "{:.0%}"), _fmt(s.mean("keys_shown"), "{:.0%}"),
                 _fmt(sp["tokens_per_s"], "{:.1f}"), _fmt(sp["ttft_s"], "{:.2f}"), _fmt(sp["seconds_per_answer"], "{:.2f}")]
        lines.append(f"{s.variant:<16} {s.n:>4} {cells[0]:>9} {cells[1]:>7} {cells[2]:>6} {cells[3]:>8} "
                     f"{cells[4]:>8} {cells[5]:>8} {cells[6]:>8} {cells[7]:>8} {cells[8]:>8} {cells[9]:>9} {cells[10]:>7} "
                     f"{s.errors:>7}")
    per_question = {s.variant: {m: s.values(m) for m in ("correct", "key_share", "token_f1")} for s in scores}
    for metric, label in (("correct", "correctas"), ("token_f1", "F1")):
        for name, diff in margins(per_question, metric).items():
            lines.append(f"{label} {name}: {diff}")
    lines += [line for s in scores if (line := first_passage_split(s))]
    return "\n".join(lines)


def first_passage_split(score: VariantScore) -> str:
    """«tuned: claves en [1]: 55 de 63 correctas; solo en otro pasaje: 1 de 20 correctas; no visibles: 0 de 12
    correctas»: a variant right where [1] answers and wrong where only another passage does reads [1] whatever
    it holds; it does not choose the passage that answers."""
    groups: dict[str, list[float]] = {"en [1]": [], "solo en otro pasaje": [], "no visibles": []}
    for a in score.answers:
        if math.isnan(a.correct):
            continue
        where = "en [1]" if a.keys_first == 1 else "solo en otro pasaje" if a.keys_shown == 1 else "no visibles"
        groups[where].append(a.correct)
    if not any(groups.values()):
        return ""
    cells = [f"{name}: {sum(v):.0f} de {len(v)} correctas" for name, v in groups.items()]
    return f"{score.variant}: claves {'; '.join(cells)}"


def _fmt(x, pattern: str) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else pattern.format(x)
