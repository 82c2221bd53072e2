"""Streamed `generate()` with per-answer stats and the next-token distribution at every step.

`model.generate()` runs in a worker thread and hands tokens to a `TextIteratorStreamer`; the caller
iterates over text pieces as they arrive and reads `.result` at the end. The probabilities come from
`output_scores`, i.e. the scores *after* the logits processors (repetition penalty, temperature,
top-k, top-p), so the effect of those settings is what the next-token view shows.
Beam search cannot stream in transformers, so its text arrives in one piece.
"""

from __future__ import annotations

import functools
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from training.prompts import GEMMA_END_OF_TURN, GEMMA_START_OF_TURN

from .registry import LoadedVariant
from .settings import DecodingSettings

TOP_ALTERNATIVES = 5
SAMPLING_LOCK = threading.Lock()
"""Sampling draws from torch's one process-wide generator (`generate()` takes no generator of its
own), and every variant has its own lock: two sessions sampling on two variants at once would
interleave their draws, and a seed would no longer reproduce an answer. A sampled generation holds
this lock from `manual_seed` to its last draw; greedy and beam search draw nothing and skip it.
Always taken before a variant's lock, so the two cannot deadlock."""
ALL_THREADS = torch.get_num_threads()
"""PyTorch's intra-op threads when the process started (one per core). The prompt's forward pass uses
them all; decoding may use fewer (`decode_threads`)."""


def serial_torch() -> None:
    """Run this thread's PyTorch work on one core: call it first thing in every thread that consumes answers
    (the command line's main thread, each Streamlit script run), before its first tensor operation.

    Answers are generated in a worker thread (`StreamedGeneration`) while the asking thread reads the stream.
    PyTorch's CPU kernels run on OpenMP, and libgomp keeps a pool of worker threads for every thread that has
    run a parallel region, alive as long as that thread. With the asking thread's pool alive beside the
    generating one's, libgomp holds more threads than the machine has cores and stops spin-waiting between
    parallel regions: every one of decoding's thousands of small kernels then waits for a sleeping thread to
    wake. Measured on 2 cores (the shipped models, 64 new tokens, same answers): tuned 12.4 -> 16.5 tokens/s,
    distilled 19.3 -> 30.8, first token 0.48 -> 0.38 s, when the asking thread never ran PyTorch on two
    threads. A thread on one thread opens no parallel region, so it never holds a pool; the worker still
    uses every core (`ALL_THREADS`)."""
    torch.set_num_threads(1)


def repeat_start(ids: list[int], n: int) -> int | None:
    """Where `ids` first repeats a run of `n` tokens it already holds (the repeat's first token), or None."""
    seen: set[tuple[int, ...]] = set()
    for i in range(len(ids) - n + 1):
        run = tuple(ids[i:i + n])
        if run in seen:
            return i
        seen.add(run)
    return None


class AnswerRepeatStop(StoppingCriteria):
    """Ends an answer once its last `n` tokens repeat a run it already wrote (the setting `stop_on_repeat`).
    Only the tokens after `prompt_len` count, so quoting a passage never stops it; each beam is checked on
    its own tokens. The repeated run is cut from the answer afterwards (`StreamedGeneration._finish`)."""

    def __init__(self, n: int, prompt_len: int) -> None:
        self.n = n
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        # checked at every step, so the first repeat a row holds is the one its last token completed
        done = [repeat_start(ids, self.n) is not None for ids in input_ids[:, self.prompt_len:].tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
WORD_START = ("▁", "Ġ", " ")
"""How a token that opens a word begins (SentencePiece, byte-level BPE, plain)."""


class LateStop(StoppingCriteria):
    """Ends an answer once one of `phrases` opens a sentence or a line after something was said
    (`late_stop_at`); the phrase is cut from the answer afterwards (`StopFilter`)."""

    def __init__(self, tokenizer, phrases: tuple[str, ...], prompt_len: int) -> None:
        self.tokenizer, self.phrases, self.prompt_len = tokenizer, phrases, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = [late_stop_at(self.tokenizer.decode(ids, skip_special_tokens=True), self.phrases) is not None
                for ids in input_ids[:, self.prompt_len:].tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class MinSentences(LogitsProcessor):
    """Holds the end of the turn back until the answer (the text after `prompt_len`) has `n` sentence ends
    (the setting `min_sentences`), and while it ends on a list's number («… usando el modelo. 2.»: the
    student ended 18 of its 76 course-documents answers on one, announcing an item it never wrote); with
    `allowed` (a boolean mask over the vocabulary) only those tokens, and the prompt's, may be written at
    all. `start_ids` (the chat template's turn start) are never written: held back from ending its turn, a
    chat model would otherwise open a new one, gluing its role name to the last sentence
    («…entrenamiento.model Según [2]: …») so that the sentence no longer counts. Where the model would end
    its turn and may not, it goes on with a word of its prompt (the passages' next sentence) or on a new
    line (`break_ids`, the line break, once in a row), where it writes its next «Según [n]: …»; left to
    choose, it glues a stray piece to the sentence («…entrenamiento.atically», «… capital: notas/…»)."""

    def __init__(self, tokenizer, n: int, prompt_len: int, end_ids: list[int],
                 allowed: torch.Tensor | None = None, prompt_ids: list[int] = (),
                 start_ids: list[int] = (), break_ids: list[int] = ()) -> None:
        self.tokenizer, self.n, self.prompt_len, self.end_ids = tokenizer, n, prompt_len, end_ids
        self.start_ids, self.break_ids = list(start_ids), list(break_ids)
        words = sorted(set(prompt_ids) - set(self.start_ids) - set(end_ids))
        self.word_ids = [i for i, t in zip(words, tokenizer.convert_ids_to_tokens(words), strict=True)
                         if isinstance(t, str) and t.startswith(WORD_START)]
        self.allowed = None
        self._blocked: torch.Tensor | None = None
        if allowed is not None:
            self.allowed = allowed.clone()
            self.allowed[[i for i in prompt_ids if i < len(self.allowed)]] = True

    def blocked(self, scores: torch.FloatTensor) -> torch.Tensor:
        """The mask of the ids never to write, as wide as the scores; built at the first step, not at every one
        (that cost ~2 ms per token at Gemma's 262k ids)."""
        if self._blocked is None:
            blocked = torch.zeros(scores.shape[1], dtype=torch.bool)
            width = min(len(self.allowed), scores.shape[1])
            blocked[:width] = ~self.allowed[:width]
            self._blocked = blocked.to(scores.device)
        return self._blocked

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.allowed is not None:
            scores.masked_fill_(self.blocked(scores), -float("inf"))
        if self.start_ids:
            scores[:, self.start_ids] = -float("inf")
        for row, ids in enumerate(input_ids[:, self.prompt_len:].tolist()):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if sentence_ends(text) < self.n or ends_on_list_number(text):
                wants_end = int(scores[row].argmax()) in self.end_ids
                scores[row, self.end_ids] = -float("inf")
                after_break = bool(ids) and ids[-1] in self.break_ids
                go_on = self.word_ids + ([] if after_break else self.break_ids)
                keep = scores[row, go_on].clone()
                if wants_end and torch.isfinite(keep).any():  # never a row with no token left to write
                    scores[row] = -float("inf")
                    scores[row, go_on] = keep
        return scores


class SuppressTokens(LogitsProcessor):
    """A checkpoint's `suppress_tokens` (Gemma's 6,000-odd `<unusedN>` placeholders, `training.pretrain`), never
    written. transformers' own processor rebuilds its mask at every step with `torch.isin` over the whole
    vocabulary: 13 ms of tuned's ~100 ms per token with Gemma's 262,144 ids; filling the listed ids costs nothing."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = torch.tensor(sorted(set(ids)), dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        ids = self.ids[self.ids < scores.shape[1]].to(scores.device)
        return scores.index_fill_(1, ids, -float("inf"))


def scores_width(model, tokenizer) -> int:
    """How many scores a step gives: the output embedding's rows (at least the tokenizer's length)."""
    return max(len(tokenizer), int(model.get_output_embeddings().weight.shape[0]))


def line_break_ids(tokenizer) -> list[int]:
    """The token of a single line break, when the tokenizer has one."""
    ids = tokenizer("\n", add_special_tokens=False)["input_ids"]
    return ids if len(ids) == 1 and ids[0] != tokenizer.unk_token_id else []


def _known_ids(tokenizer, ids) -> list[int]:
    """The ids among `ids` the tokenizer really has (not None, negative or its unknown token), sorted."""
    return sorted(i for i in set(ids) if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


def start_of_turn_ids(tokenizer) -> list[int]:
    """The chat template's turn-start token, when the tokenizer has one (Gemma's `<start_of_turn>`)."""
    return _known_ids(tokenizer, [tokenizer.convert_tokens_to_ids(GEMMA_START_OF_TURN)])


def end_of_turn_ids(tokenizer) -> list[int]:
    """The ids that end an answer: the tokenizer's EOS and, with a chat template, its end-of-turn token."""
    return _known_ids(tokenizer, [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(GEMMA_END_OF_TURN)])


@dataclass
class TokenStep:
    """One generated token: its text, probability, and the most probable alternatives at that step."""

    token: str
    prob: float
    top: list[tuple[str, float]]


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    """Tokens decoded, a repeat or a stop string cut from the answer included (the work its speed measures)."""
    seconds: float = 0.0
    ttft_s: float | None = None
    """Seconds from the call to the first generated token (whole answer for beam search)."""
    tokens_per_s: float = 0.0
    """Decoding speed after the first token (prefill is in ttft_s)."""
    finish: str = ""
    """'eos', 'stop' (a few-shot stop string, or a late stop: `late_stop_at`), 'repeat' (`stop_on_repeat`; the
    stats line says so) or 'length'."""

    def line(self) -> str:
        ttft = f"{self.ttft_s:.2f} s" if self.ttft_s is not None else "—"
        cut = " · cortada donde empezó a repetirse («Cortar repeticiones»)" if self.finish == "repeat" else ""
        return (f"{self.new_tokens} tokens · {self.tokens_per_s:.1f} tokens/s · primer token {ttft} · "
                f"total {self.seconds:.2f} s · prompt {self.prompt_tokens} tokens{cut}")


@dataclass
class GenerationResult:
    text: str
    stats: GenerationStats
    steps: list[TokenStep] = field(default_factory=list)


class _TimedStreamer(TextIteratorStreamer):
    """Also records when the first generated token arrives (the text may wait for a word boundary), and
    calls `on_first_token` then, in the generating thread: the prompt's forward pass is over."""

    def __init__(self, tokenizer, on_first_token=None, **kwargs) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True, **kwargs)
        self.first_token_at: float | None = None
        self.on_first_token = on_first_token

    def put(self, value) -> None:
        if not self.next_tokens_are_prompt and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            if self.on_first_token is not None:
                self.on_first_token()
        super().put(value)


LATE_OPENING = r"(?:(?<=[.!?])\s+|\s*\n\s*|\s+[-•]\s+)(?:(?:\d{1,2}[.)]|[-•])\s+)*(?:Según \[\d+\]:\s*)?"
"""Where a late stop phrase may open: after a sentence end, a line break or a list's dash, then maybe a list
number («2.»: the student numbers its lines the way its chain-of-thought examples do) and an answer's
«Según [n]:»."""
_ENUMERATOR_END = re.compile(r"(?:^|\s)\d{1,2}[.)]$")
_NO_CONTENT = re.compile(r"Según \[\d+\]:|[-•]|(?:^|\s)\d{1,2}[.)]|\s")
"""What does not count as something said: answer leads, dashes, list numbers, spaces."""


def sentence_end_points(text: str) -> list[int]:
    """Where each sentence of `text` ends. A list's number («- 2.», «3)») ends no sentence: counted, it let the
    models stop «Frases mínimas» short on slide text («…usando el modelo. - 2.»), as the extractive answer's units
    leave such numbers out too (`assistant.answer.answer_units`)."""
    return [m.end() for m in SENTENCE_END.finditer(text) if not _ENUMERATOR_END.search(text[:m.end()])]


def ends_on_list_number(text: str) -> bool:
    """Whether `text` stops right after a list's number («… 2.», «- 3)»): an item announced, not written."""
    return bool(_ENUMERATOR_END.search(text.rstrip()))


def sentence_ends(text: str) -> int:
    """How many sentence ends `text` holds (`sentence_end_points`)."""
    return len(sentence_end_points(text))


def _said_something(text: str) -> bool:
    return bool(_NO_CONTENT.sub("", text))


@functools.lru_cache(maxsize=8)
def _late_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    return re.compile(LATE_OPENING + "(?:" + "|".join(map(re.escape, phrases)) + ")")


@functools.lru_cache(maxsize=8)
def _late_forms(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """Each phrase as it may open late, its numbers written as 1 (`_may_open_late` compares with them)."""
    return tuple(f"{pre}{lead}{p}" for p in phrases for pre in ("", "1. ", "- ", "- 1. ") for lead in ("", "Según [1]: "))


def late_stop_at(text: str, phrases: tuple[str, ...]) -> int | None:
    """Where `text` should end because one of `phrases` opens a sentence or a line after something was said
    (`LATE_OPENING`): the position where that opening starts, or None.

    The app's phrases (`assistant.engine.LATE_STOPS`) are the not-found sentence's opening and those of the
    chain-of-thought steps: a model held to two sentences (`min_sentences`) that has nothing to add writes «Los
    pasajes no contienen la respuesta…» or a reasoning line after a right first sentence, and the student reads an
    answer that contradicts itself. Said after an answer, such a phrase means the answer is over; said first, the
    not-found sentence stays the answer."""
    for m in _late_pattern(phrases).finditer(text):
        if _said_something(text[:m.start()]) and not _ENUMERATOR_END.search(text[:m.start()]):
            return m.start()
    return None


def _may_open_late(text: str, phrases: tuple[str, ...]) -> int:
    """How many characters at the end of `text` may still become a late stop (`late_stop_at`): the text after
    its last sentence end, line break or dash when that is the start of such an opening, else 0."""
    points = sentence_end_points(text)
    points += [m.start() for m in re.finditer(r"\s*\n|\s+[-•](?=\s|$)", text)]
    forms = _late_forms(phrases)
    for at in sorted(points):
        tail = text[at:]
        body = " ".join(re.sub(r"\d+", "1", tail).split())
        if tail and _said_something(text[:at]) and (not body or any(f.startswith(body) for f in forms)):
            return len(tail)
    return 0


class StopFilter:
    """Streams text but holds back anything that may be the start of a stop string, and drops it and
    everything after it once it appears (generate() stops *after* emitting the stop string). `late` phrases
    (`late_stop_at`) end the text only where they open a sentence or a line after something was said."""

    def __init__(self, stops: tuple[str, ...], late: tuple[str, ...] = ()) -> None:
        self.stops = stops
        self.late = late
        self.buffer = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.buffer += piece
        cuts = [i for s in self.stops if (i := self.buffer.find(s)) >= 0]
        if self.late and (late := late_stop_at(self.buffer, self.late)) is not None:
            cuts.append(late)
        if cuts:
            self.stopped = True
            return self._emit_to(min(cuts))
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.buffer.endswith(s[:k])), default=0)
        if self.late:
            hold = max(hold, _may_open_late(self.buffer, self.late))
        return self._emit_to(len(self.buffer) - hold)

    def flush(self) -> str:
        return "" if self.stopped else self._emit_to(len(self.buffer))

    def final_text(self) -> str:
        return self.buffer[: self.emitted]

    def _emit_to(self, end: int) -> str:
        out = self.buffer[self.emitted:end]
        self.emitted = max(self.emitted, end)
        return out


class StreamedGeneration:
    """Iterate for text pieces; afterwards `.result` holds the text, stats and token probabilities."""

    def __init__(self, variant: LoadedVariant, input_ids: list[int], settings: DecodingSettings,
                 max_new_tokens: int | None = None, stop_strings: tuple[str, ...] = (),
                 decode_threads: int = 0, vocabulary: torch.Tensor | None = None,
                 late_stops: tuple[str, ...] = ()) -> None:
        """`late_stops`: phrases that end the answer where they open a sentence or a line after something was
        said (`late_stop_at`). `decode_threads`: PyTorch threads for the tokens after the first (0: all of them). The prompt's
        forward pass always uses every core. `vocabulary`: the tokens `min_sentences` lets the model write
        (with the prompt's), a boolean mask; None allows all. Set in the generating thread only: with OpenMP a thread keeps
        its own count, so concurrent answers do not change each other's."""
        self.variant = variant
        self.decode_threads = decode_threads
        self.vocabulary = vocabulary
        self.input_ids = input_ids
        self.settings = settings
        self.max_new_tokens = max_new_tokens or settings.max_new_tokens
        self.stop_strings = stop_strings
        self.late_stops = late_stops
        self.result: GenerationResult | None = None
        self._output = None
        self._error: BaseException | None = None

    def __iter__(self) -> Iterator[str]:
        tok = self.variant.tokenizer
        beam = self.settings.strategy == "beam"
        streamer = None if beam else _TimedStreamer(tok, self._decode_phase if self.decode_threads else None)
        stop_filter = StopFilter(self.stop_strings, self.late_stops)
        t0 = time.perf_counter()
        worker = threading.Thread(target=self._generate, args=(streamer,), daemon=True)
        worker.start()
        if streamer is not None:
            for piece in _drain(streamer, worker):
                if text := stop_filter.feed(piece):
                    yield text
        worker.join()
        if self._error is not None:
            raise self._error
        t_end = time.perf_counter()
        first = streamer.first_token_at if streamer is not None else t_end
        if beam and (text := stop_filter.feed(tok.decode(self._new_ids(), skip_special_tokens=True))):
            yield text
        if tail := stop_filter.flush():
            yield tail
        self.result = self._finish(stop_filter, t0, first, t_end)

    def run(self) -> GenerationResult:
        """Generate without consuming the stream piece by piece."""
        for _ in self:
            pass
        return self.result

    # ------------------------------------------------------------------ worker

    def _decode_phase(self) -> None:
        torch.set_num_threads(self.decode_threads)

    def _generate(self, streamer) -> None:
        torch.set_num_threads(ALL_THREADS)  # the prompt's forward pass: every core
        model, tok = self.variant.model, self.variant.tokenizer
        ids = torch.tensor([self.input_ids], device=self.variant.device)
        kwargs = self.settings.generate_kwargs() | {"max_new_tokens": self.max_new_tokens}
        stopping = [AnswerRepeatStop(self.settings.stop_on_repeat, len(self.input_ids))] \
            if self.settings.stop_on_repeat else []
        if self.late_stops:
            stopping.append(LateStop(tok, self.late_stops, len(self.input_ids)))
        if stopping:
            kwargs["stopping_criteria"] = StoppingCriteriaList(stopping)
        processors: list[LogitsProcessor] = []
        if suppressed := getattr(model.generation_config, "suppress_tokens", None):
            processors.append(SuppressTokens(suppressed))  # in transformers' place, which it takes over
            kwargs["suppress_tokens"] = None
        if self.settings.min_sentences:
            processors.append(MinSentences(
                tok, self.settings.min_sentences, len(self.input_ids), end_of_turn_ids(tok), self.vocabulary,
                self.input_ids, start_of_turn_ids(tok), line_break_ids(tok)))
        if processors:
            kwargs["logits_processor"] = LogitsProcessorList(processors)
        if self.stop_strings:
            kwargs |= {"stop_strings": list(self.stop_strings), "tokenizer": tok}
        try:
            sampling = SAMPLING_LOCK if self.settings.strategy == "sampling" else nullcontext()
            with sampling, self.variant.lock, torch.inference_mode():
                torch.manual_seed(self.settings.seed)
                self._output = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                    return_dict_in_generate=True, output_scores=True,
                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc
            if streamer is not None:
                streamer.end()
        finally:
            torch.set_num_threads(ALL_THREADS)  # undo `decode_threads`: PyTorch's default for new threads is process-wide

    # ------------------------------------------------------------------ after the last token

    def _new_ids(self) -> list[int]:
        return self._output.sequences[0, len(self.input_ids):].tolist()

    def _finish(self, stop_filter: StopFilter, t0: float, first: float | None, t_end: float) -> GenerationResult:
        tok = self.variant.tokenizer
        new_ids = self._new_ids()
        steps = token_steps(self._output, tok, len(self.input_ids))
        text = stop_filter.final_text().strip()
        repeat = repeat_start(new_ids, self.settings.stop_on_repeat) if self.settings.stop_on_repeat else None
        if stop_filter.stopped:
            steps = _trim_steps(steps, len(stop_filter.final_text()))
            finish = "stop"
        elif repeat is not None:  # the streamed text showed the repeated run: the answer ends before it
            text = tok.decode(new_ids[:repeat], skip_special_tokens=True).strip()
            steps = steps[:repeat]
            finish = "repeat"
        elif tok.eos_token_id in new_ids:
            finish = "eos"
        else:
            finish = "length"
        # every token decoded counts, also those of a stop string or a repeat cut from the text: the speed is
        # the work's (counting only the kept ones made a student whose answers a late stop ends look slower)
        n = len([i for i in new_ids if i != tok.pad_token_id])
        stats = GenerationStats(prompt_tokens=len(self.input_ids), new_tokens=n, seconds=t_end - t0,
                                ttft_s=(first - t0) if first is not None else None,
                                tokens_per_s=_speed(n, t0, first, t_end), finish=finish)
        return GenerationResult(text, stats, steps)


def _speed(n: int, t0: float, first: float | None, t_end: float) -> float:
    """Tokens/s after the first token; for beam search (no stream) over the whole call."""
    if first is None or first >= t_end:
        return n / max(t_end - t0, 1e-9)
    return (n - 1) / (t_end - first) if n > 1 else 0.0


def _drain(streamer: TextIteratorStreamer, worker: threading.Thread) -> Iterator[str]:
    """The streamer's pieces, without hanging if the worker died before ending the stream."""
    while True:
        try:
            piece = streamer.text_queue.get(timeout=0.1)
        except queue.Empty:
            if worker.is_alive():
                continue
            return
        if piece is streamer.stop_signal:
            return
        yield piece


def token_steps(output, tokenizer, prompt_len: int) -> list[TokenStep]:
    """Per generated token: probability under the processed distribution and the top alternatives.

    scores[i]: (batch * beams, vocab) after the logits processors. For beam search the row is the beam
    that produced the kept token (`beam_indices`); without them there is nothing reliable to show.
    """
    scores = getattr(output, "scores", None)
    if not scores:
        return []
    beam_indices = getattr(output, "beam_indices", None)
    chosen = output.sequences[0, prompt_len:]
    steps = []
    for i, token_id in enumerate(chosen.tolist()[: len(scores)]):
        row = 0
        if beam_indices is not None:
            row = int(beam_indices[0, i])
            if row < 0:
                break
        elif scores[i].shape[0] != 1:
            return []
        logits = scores[i][row].float()
        # Beam scores are already log-probabilities; softmax of log-probs returns the same distribution.
        probs = torch.softmax(logits, dim=-1)
        top_p, top_ids = probs.topk(TOP_ALTERNATIVES)
        steps.append(TokenStep(
            token=tokenizer.decode([token_id]),
            prob=float(probs[token_id]),
            top=[(tokenizer.decode([t]), float(p)) for t, p in zip(top_ids.tolist(), top_p.tolist(), strict=True)],
        ))
        if token_id == tokenizer.eos_token_id:
            break
    return steps


def _trim_steps(steps: list[TokenStep], text_len: int) -> list[TokenStep]:
    """Keep the steps whose text lies before the stop string."""
    kept, length = [], 0
    for s in steps:
        if length >= text_len:
            break
        kept.append(s)
        length += len(s.token)
    return kept
