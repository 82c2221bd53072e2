"""Question -> passages -> prompt for each variant -> streamed generation -> Answer.

The one path the UI, the CLI and the evaluation share. Nothing here raises at a user for something the
user typed or for a missing artifact: it returns a Spanish message that says what to do instead.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from index.lexical import fold_accents
from training.prompts import NOT_FOUND, cite, content_stems, focus
from training.vocab import kept_ids

from .answer import EXTRACTIVE, Answer, assemble_answer, extractive_answer
from .config import AppConfig
from .generation import StreamedGeneration, end_of_turn_ids, scores_width
from .model_info import read_report
from .prompting import build_prompt
from .registry import REFERENCE, Registry, shared_registry
from .retrieval import Passage, retrieve
from .settings import DecodingSettings

log = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 4000
PREFERRED = ("tuned", "distilled", "base", REFERENCE)
EXTRACTIVE_LABEL = "Extractiva: frases de los pasajes recuperados (sin modelo)"
NOT_COVERED = ("El material del curso no trata esta pregunta: ningún pasaje indexado se le parece lo "
               "suficiente, así que no genero una respuesta que no podría respaldar. Pregunta sobre los "
               "temas del curso (atención, transformers, LoRA, RAG, decodificación…).")
LATE_STOPS = (" ".join(NOT_FOUND.split()[:4]), "La pregunta es:", "El pasaje [", "Los pasajes [", "La respuesta sale")
"""What ends an answer when said after something else (`generation.late_stop_at`; not with chain of thought, whose
reasoning says them): «Los pasajes no contienen…», which would contradict the answer, and the openings of the
chain-of-thought steps (`training.data.make_examples`), which the student, held to two sentences, writes as a
numbered line after its answer («… ⏎ 1. La pregunta es: …»). Measured on the 171 dev answers (README, "Two
sentences"): no key fact was after such a cut."""
EMPTY_QUESTION = "Escribe una pregunta sobre el curso, por ejemplo: «¿Qué es teacher forcing?»."

_ES_WORDS = ("el la los las de del que y en un una por para con no es son se lo como más qué cuál cómo "
          "cuándo dónde por qué al su sus este esta entre sobre sin también muy cada")
_EN_WORDS = ("the of and to in is are what how why which when where does do a an for with on this that "
             "be it from by as can between")
_EN = set(_EN_WORDS.split())


@dataclass
class Question:
    text: str
    notices: list[str] = field(default_factory=list)
    problem: str | None = None
    """Set when there is nothing to answer (an empty question, or one no indexed passage is close to):
    show it instead of an answer."""


def guard_question(raw: str | None) -> Question:
    text = (raw or "").strip()
    if not text:
        return Question("", problem=EMPTY_QUESTION)
    notices = []
    if len(text) > MAX_QUESTION_CHARS:
        text = text[:MAX_QUESTION_CHARS]
        notices.append(f"La pregunta es muy larga: busco los pasajes con sus primeros {MAX_QUESTION_CHARS} caracteres.")
    if not looks_spanish(text):
        notices.append("El curso está en español: respondo con el material en español; "
                       "las respuestas serán mejores si preguntas en español.")
    return Question(text, notices)


def looks_spanish(text: str) -> bool:
    """Stopword heuristic; short questions (a term or two) count as Spanish."""
    words = re.findall(r"[a-záéíóúüñ]+", text.lower())
    if len(words) < 3 or re.search(r"[ñ¿¡]", text.lower()):
        return True
    es = sum(fold_accents(w) in _ES for w in words)
    en = sum(w in _EN for w in words)
    return es >= en


_ES = {fold_accents(w) for w in _ES_WORDS.split()}


@dataclass
class Prepared:
    """What every variant gets for one question: the same text, passages and notices."""

    question: Question
    passages: list[Passage]
    notices: list[str]
    idf: dict[str, float] = field(default_factory=dict)
    """The question's content stems weighted by their rarity in the index (the extractive answer's weights)."""


class AnswerStream:
    """The one way an answer is produced: iterate for text pieces; `.answer` is complete afterwards.

    - a question with a problem (empty, not covered by the course) gets that message, nothing generated;
    - no variant (no models trained yet) gets the extractive answer (the passages' own sentences);
    - otherwise the variant generates. A failure ends the stream and becomes `answer.error` (logged with
      its traceback) instead of an exception, so one broken variant does not stop the others."""

    def __init__(self, engine: Engine, variant: str | None, prepared: Prepared, settings: DecodingSettings,
                 cot: bool) -> None:
        self.engine, self.variant, self.prepared = engine, variant, prepared
        self.settings, self.cot = settings, cot
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        p = self.prepared
        if p.question.problem:
            self.answer = Answer(self.variant or "", p.question.problem, notices=list(p.notices))
            yield p.question.problem
            return
        if self.variant is None:
            self.answer = extractive_answer(p.question.text, p.passages,
                                            list(p.notices) + [n for n in [self.engine.models_notice()] if n], p.idf)
            yield self.answer.text
            return
        try:
            model = self.engine.registry.get(self.variant)
            prompt = build_prompt(model, p.question.text, p.passages, self.cot, self.settings.max_new_tokens)
            gen = StreamedGeneration(model, prompt.input_ids, self.settings, prompt.max_new_tokens,
                                     prompt.stop_strings, self.engine.config.decode_threads,
                                     self.engine.vocabulary(model) if self.settings.min_sentences else None,
                                     late_stops=() if self.cot else LATE_STOPS)
            if prompt.prefix:
                yield prompt.prefix + " "  # written by the prompt, shown as the answer's start
            yield from gen
        except Exception as exc:  # any failure, model or torch, becomes this column's error message
            log.exception("answer with %s failed", self.variant)
            self.answer = Answer(self.variant, "", passages=p.passages, notices=list(p.notices),
                                 error=f"{self.variant}: la generación falló ({exc})")
            return
        raw = f"{prompt.prefix} {gen.result.text}" if prompt.prefix else gen.result.text
        notices = list(p.notices) + _prompt_notices(self.variant, prompt)
        if gen.result.stats.finish == "length":
            notices.append(f"La respuesta se cortó al llegar al máximo de {prompt.max_new_tokens} tokens nuevos: "
                           "súbelo en la barra lateral («Máx. tokens nuevos») para leerla entera.")
        self.answer = assemble_answer(self.variant, raw, prompt.passages, self.cot, gen.result.stats,
                                      gen.result.steps, notices)
        self.answer.context = context_note(p.question.text, len(p.passages), prompt.passages,
                                           model.spec.max_passage_chars)

    def run(self) -> Answer:
        for _ in self:
            pass
        return self.answer


def context_note(question: str, retrieved: int, given: Sequence, max_chars: int) -> str:
    """What the model actually read, in one Spanish line: «recibió 3 de 5 pasajes recuperados, 812
    caracteres (hasta 300 de cada uno, la parte que mejor responde)»."""
    chars = sum(len(focus(p.text, question, max_chars)) for p in given)
    return (f"El modelo recibió {len(given)} de {retrieved} pasajes recuperados, {chars} caracteres "
            f"(hasta {max_chars} de cada uno: la parte que más se parece a la pregunta).")


def _prompt_notices(variant: str, prompt) -> list[str]:
    """One true sentence about what did not fit (the passages and characters it got are in `context`)."""
    if prompt.truncated:
        return [f"La pregunta no cabe en el contexto de {variant} ni sin pasajes: leyó solo su final."]
    if prompt.question_cut:
        return [f"La pregunta es demasiado larga para el contexto de {variant} junto a los pasajes: "
                f"leyó sus últimos {prompt.question_chars} caracteres y {len(prompt.passages)} pasaje(s)."]
    if prompt.dropped:
        return [f"{prompt.dropped} pasaje(s) no cabían en el contexto de {variant}."]
    return []


VOCABULARY_TOP = 16384
"""General tokens `min_sentences` always allows (the lowest ids: BPE merges by priority), as the student's
`distill.vocab_top`."""


ANSWER_FORMS = [form for n in range(1, 10) for form in (cite(NOT_FOUND, n), cite(NOT_FOUND, n, "end"))]
"""The answer formats the models are tuned on («Según [n]: …», «… [n]»): allowed by `min_sentences` too."""


_VOCABULARIES: dict[tuple, tuple] = {}
"""`Engine.vocabulary`'s masks, process-wide: (id(model), id(index), chunks) → (model, index, mask)."""
_VOCABULARY_LOCK = threading.Lock()


class Engine:
    def __init__(self, config: AppConfig | None = None, *, registry: Registry | None = None, index=None,
                 index_error: str | None = None) -> None:
        """`config` says where the index and the models are (`AppConfig.from_env()` when omitted);
        `registry` and `index`/`index_error` let a caller that caches them (the app) pass what it loaded."""
        self.config = config or AppConfig.from_env()
        self.registry = registry or shared_registry(self.config.models_dir, self.config.include_reference)
        if index is not None or index_error is not None:
            self.index, self.index_error = index, index_error
        else:
            self.index, self.index_error = load_index(self.config)

    def vocabulary(self, model) -> torch.Tensor | None:
        """A boolean mask over `model`'s vocabulary: what `min_sentences` lets it write besides its prompt's
        tokens. The tokens of the indexed documents, of the answer formats and the VOCABULARY_TOP general
        ones, with every BPE piece they are built from (`training.vocab.kept_ids`, the distilled student's
        own vocabulary rule); None for a tokenizer that is not BPE. Built once per loaded model and index for
        the whole process (~1.6 s; the app makes an `Engine` per run), under a lock."""
        if self.index is None:
            return None
        key = (id(model), id(self.index), len(self.index.chunks))
        with _VOCABULARY_LOCK:
            if key not in _VOCABULARIES:  # the value holds model and index, so their ids are not reused
                _VOCABULARIES[key] = (model, self.index, self._build_vocabulary(model))
            return _VOCABULARIES[key][2]

    def _build_vocabulary(self, model) -> torch.Tensor | None:
        try:
            keep = kept_ids(model.tokenizer, [c.text for c in self.index.chunks] + ANSWER_FORMS, VOCABULARY_TOP)
        except ValueError as exc:
            log.warning("%s: no vocabulary mask (%s)", model.name, exc)
            return None
        mask = torch.zeros(scores_width(model.model, model.tokenizer), dtype=torch.bool)
        mask[keep] = True
        mask[end_of_turn_ids(model.tokenizer)] = True
        return mask

    # ------------------------------------------------------------------ what is there

    @property
    def variants(self) -> list[str]:
        return self.registry.names

    @property
    def choices(self) -> list[str]:
        """What a student can pick to answer: every model variant, then `extractivo` (the passages' best
        sentences, no model), which is the floor the models are measured against."""
        return [*self.variants, EXTRACTIVE]

    def label(self, name: str | None) -> str:
        if name in (None, EXTRACTIVE):
            return EXTRACTIVE_LABEL
        return self.registry.spec(name).label

    def default_variant(self) -> str | None:
        """What answered most often correctly (`best_variant` in the models' report.json, written by
        `python -m assistant evaluate --report`): a model, or the extractive answer when no model beat
        it; else the first of PREFERRED; None when there is no model at all."""
        best = self._best_measured()
        return best if best == EXTRACTIVE and self.variants else self._model(best)

    def default_model(self) -> str | None:
        """The model a speed measurement uses: the default when it is a model, else the first of PREFERRED."""
        return self._model(self._best_measured())

    def _best_measured(self) -> str | None:
        return read_report(self.registry.models_dir).get("best_variant")

    def _model(self, best: str | None) -> str | None:
        return best if best in self.variants else next((v for v in PREFERRED if v in self.variants), None)

    def models_notice(self) -> str | None:
        """Spanish note when the trained variants are missing or unreadable (None when all is well)."""
        notes = [p.message for p in self.registry.problems]
        if not self.registry.trained_names:
            fallback = ("uso el modelo de referencia" if REFERENCE in self.variants
                        else "respondo con los pasajes recuperados (respuesta extractiva)")
            notes.insert(0, f"Todavía no hay modelos entrenados en `{self.registry.models_dir}`; {fallback}. "
                            f"Créalos con `make run` o con `{self.config.train_command()}`.")
        return "\n\n".join(notes) or None

    # ------------------------------------------------------------------ answering

    def prepare(self, question: str, k: int = 5) -> Prepared:
        q = guard_question(question)
        notices = list(q.notices)
        passages: list[Passage] = []
        idf: dict[str, float] = {}
        if q.problem is None:
            if self.index is None:
                notices.append(self.index_error)
            else:
                passages, covered = retrieve(self.index, q.text, k=k)
                if not covered:
                    q.problem = NOT_COVERED
                idf = self.index.lexical.idf(content_stems(q.text))
        return Prepared(q, passages, notices, idf)

    def stream(self, variant: str | None, prepared: Prepared, settings: DecodingSettings | None = None,
               cot: bool = False) -> AnswerStream:
        """The streamed answer of `variant` (`extractivo`, or None when no model exists: the extractive
        answer)."""
        return AnswerStream(self, None if variant == EXTRACTIVE else variant, prepared,
                            settings or DecodingSettings(), cot)

    def compare_streams(self, prepared: Prepared, settings: DecodingSettings | None = None, cot: bool = False,
                        variants: Sequence[str] | None = None) -> dict[str, AnswerStream]:
        """One stream per variant over the same passages and settings (consume them in turn); without
        any model, one extractive answer under the name `extractivo`."""
        names = list(variants or self.variants)
        if not names:
            return {EXTRACTIVE: self.stream(None, prepared, settings, cot)}
        return {name: self.stream(name, prepared, settings, cot) for name in names}

    def ask(self, question: str, variant: str | None = None, settings: DecodingSettings | None = None,
            cot: bool = False, k: int = 5) -> Answer:
        prepared = self.prepare(question, k)
        return self.answer(prepared, variant, settings, cot)

    def answer(self, prepared: Prepared, variant: str | None = None, settings: DecodingSettings | None = None,
               cot: bool = False) -> Answer:
        """The whole answer of `variant` (default: the best measured one; the extractive answer when
        there is no model)."""
        return self.stream(variant or self.default_variant(), prepared, settings, cot).run()

    def compare(self, question: str, settings: DecodingSettings | None = None, cot: bool = False, k: int = 5,
                variants: Sequence[str] | None = None) -> dict[str, Answer]:
        """Same passages and settings for every variant; a failing one gets `error`, the rest still run."""
        prepared = self.prepare(question, k)
        return {name: s.run() for name, s in self.compare_streams(prepared, settings, cot, variants).items()}


def load_index(config: AppConfig):
    """(index, None) or (None, Spanish message with the command that builds it)."""
    from index import HybridIndex, IndexNotFoundError

    try:
        return HybridIndex.load(config.index_dir), None
    except IndexNotFoundError as exc:
        return None, (f"No hay un índice utilizable en `{config.index_dir}` ({exc}). Créalo con `make run` o "
                      f"con `{config.index_command()}`.")
