"""The runtime end to end on tiny random checkpoints: registry, streaming, stats, probabilities, engine."""

import shutil
import threading
from pathlib import Path

import pytest
import torch

from assistant.answer import EXTRACTIVE
from assistant.config import AppConfig
from assistant.engine import Engine
from assistant.generation import (
    ALL_THREADS,
    TOP_ALTERNATIVES,
    StreamedGeneration,
    end_of_turn_ids,
    repeat_start,
)
from assistant.prompting import build_prompt
from assistant.registry import Registry, shared_registry
from assistant.retrieval import Passage
from assistant.settings import DecodingSettings

QUESTION = "¿Qué es teacher forcing?"
SHORT = DecodingSettings(max_new_tokens=12)
pytestmark = pytest.mark.slow  # builds the course index (~15 s, once per session)


@pytest.fixture(scope="module")
def registry(tiny_models):
    return Registry(tiny_models, include_reference=False)


@pytest.fixture(scope="module")
def engine(course_index, registry):
    return Engine(registry=registry, index=course_index)


def generate(registry, name, settings, passages=()):
    variant = registry.get(name)
    prompt = build_prompt(variant, QUESTION, list(passages), False, settings.max_new_tokens)
    gen = StreamedGeneration(variant, prompt.input_ids, settings, prompt.max_new_tokens, prompt.stop_strings)
    pieces = list(gen)
    return pieces, gen.result


def test_registry_finds_the_three_variants_and_loads_each_once(registry):
    assert registry.names == ["base", "tuned", "distilled"]
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(registry.get("distilled"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m is loaded[0] for m in loaded)
    assert not loaded[0].model.training


def test_shared_registry_is_one_per_directory(tiny_models):
    assert shared_registry(tiny_models, False) is shared_registry(str(tiny_models), False)


def test_streamed_answer_reports_tokens_speed_and_first_token_time(registry):
    pieces, result = generate(registry, "tuned", SHORT)
    assert "".join(pieces).strip() == result.text
    s = result.stats
    assert 0 < s.new_tokens <= 12 and s.tokens_per_s > 0 and 0 < s.ttft_s <= s.seconds
    assert "tokens/s" in s.line()


def test_a_stop_string_cuts_the_text_but_its_tokens_count_in_the_speed(registry):
    """The tokens decoded after the stop string's start are work done: counting only the kept ones made a
    student whose answers a late stop ends look slower than it decodes."""
    settings = DecodingSettings(strategy="sampling", seed=1, top_k=0, stop_on_repeat=0, max_new_tokens=16)
    variant = registry.get("tuned")  # the same seed draws the same tokens up to the stop (greedy writes only spaces)
    prompt = build_prompt(variant, QUESTION, [], False, settings.max_new_tokens)
    free = StreamedGeneration(variant, prompt.input_ids, settings, prompt.max_new_tokens).run()
    words = free.text.split()
    assert len(words) > 2, free.text
    stop = " " + words[2]
    stopped = StreamedGeneration(variant, prompt.input_ids, settings, prompt.max_new_tokens, (stop,)).run()
    assert stopped.stats.finish == "stop" and free.text.startswith(stopped.text) and stop not in stopped.text
    assert len(stopped.steps) < stopped.stats.new_tokens, "the steps are trimmed to the text, the count is not"


def test_every_step_has_probability_and_top_alternatives(registry):
    _, result = generate(registry, "distilled", SHORT.with_overrides(stop_on_repeat=0))
    assert len(result.steps) == result.stats.new_tokens
    for step in result.steps:
        probs = [p for _, p in step.top]
        assert len(step.top) == TOP_ALTERNATIVES and probs == sorted(probs, reverse=True)
        assert 0 <= step.prob <= probs[0] + 1e-6


def test_top_k_and_temperature_show_in_the_probabilities(registry):
    sampling = DecodingSettings(strategy="sampling", top_k=2, top_p=1.0, temperature=1.0, max_new_tokens=8)
    _, result = generate(registry, "tuned", sampling)
    assert all(step.top[2][1] == 0.0 for step in result.steps)  # only 2 tokens survive top-k
    assert all(abs(step.top[0][1] + step.top[1][1] - 1) < 1e-4 for step in result.steps)
    cold = DecodingSettings(strategy="sampling", top_k=0, temperature=0.05, max_new_tokens=4)
    _, cold_result = generate(registry, "tuned", cold)
    assert cold_result.steps[0].top[0][1] > result.steps[0].top[0][1]


def test_same_seed_same_sample(registry):
    s = DecodingSettings(strategy="sampling", seed=3, max_new_tokens=10)
    assert generate(registry, "tuned", s)[1].text == generate(registry, "tuned", s)[1].text


def test_beam_search_answers_in_one_piece(registry):
    pieces, result = generate(registry, "tuned", DecodingSettings(strategy="beam", num_beams=2, max_new_tokens=6))
    assert len(pieces) <= 1 and result.stats.new_tokens > 0
    assert all(len(s.top) == TOP_ALTERNATIVES for s in result.steps)


def test_prompt_drops_lowest_ranked_passages_to_fit_the_context(registry):
    variant = registry.get("tuned")
    long = [Passage(i, "xyz qwv ñandú " * 60, f"f{i}.md", (), "", 1.0) for i in range(1, 4)]
    prompt = build_prompt(variant, QUESTION, long, cot=True, max_new_tokens=400)
    assert len(prompt.input_ids) <= variant.context_length - 400
    assert prompt.dropped >= 1 and [p.number for p in prompt.passages] == list(range(1, len(prompt.passages) + 1))


def test_a_question_too_long_for_the_context_is_shortened_so_a_passage_fits(registry):
    variant = registry.get("tuned")
    passages = [Passage(i, f"El teacher forcing usa la palabra correcta, pasaje {i}.", f"f{i}.md", (), "", 1.0)
                for i in range(1, 4)]
    question = "contexto " * 2000 + "¿Qué es teacher forcing?"
    prompt = build_prompt(variant, question, passages, cot=False, max_new_tokens=64)
    assert len(prompt.input_ids) <= variant.context_length - 64 and not prompt.truncated
    assert prompt.passages and prompt.question_cut and prompt.question_chars < len(question)
    assert "¿Qué es teacher forcing?" in prompt.text, "the end of the question, where the asking is, is kept"


def test_a_long_question_gets_one_true_notice(engine):
    answer = engine.ask("contexto " * 600 + "¿Qué es teacher forcing?", "tuned", SHORT)
    about_length = [n for n in answer.notices if "larga" in n or "cabe" in n or "cabían" in n]
    assert answer.passages, "the model still read a passage"
    assert all("recibió solo 0" not in n and "se recortó su comienzo" not in n for n in answer.notices)
    assert len([n for n in about_length if "contexto de tuned" in n]) <= 1


def test_base_model_gets_the_few_shot_prompt(registry):
    prompt = build_prompt(registry.get("base"), QUESTION, [], cot=False, max_new_tokens=10)
    assert prompt.text.rstrip().endswith("Respuesta:") and prompt.stop_strings == ("\nPregunta:",)


def test_with_cot_every_prompt_opens_the_answer_with_the_spanish_reasoning_mark(registry, engine):
    """Without it the untuned reference answered a CoT request in English; the tuned models begin their
    CoT answers with this mark anyway. The mark is part of the answer the student sees."""
    for name in ("tuned", "base"):
        prompt = build_prompt(registry.get(name), QUESTION, [], cot=True, max_new_tokens=10)
        assert prompt.text.rstrip().endswith("Razonamiento:") and prompt.prefix == "Razonamiento:"
    plain = build_prompt(registry.get("tuned"), QUESTION, [], cot=False, max_new_tokens=10)
    assert plain.prefix == "" and plain.text.endswith("assistant\n")
    stream = engine.stream("tuned", engine.prepare(QUESTION), SHORT, cot=True)
    assert next(iter(stream)).startswith("Razonamiento:")


def test_engine_answers_with_passages_and_stats(engine):
    answer = engine.ask(QUESTION, settings=SHORT, cot=True)
    assert answer.variant == "tuned" and answer.error is None
    assert answer.passages and answer.stats.new_tokens > 0
    assert any("teacher" in p.text.lower() for p in answer.passages)


def test_compare_keeps_going_when_one_variant_fails(engine, monkeypatch):
    real_get = engine.registry.get

    def broken(name):
        if name == "base":
            raise RuntimeError("memoria agotada")
        return real_get(name)

    monkeypatch.setattr(engine.registry, "get", broken)
    answers = engine.compare(QUESTION, SHORT)
    assert list(answers) == ["base", "tuned", "distilled"]
    assert "memoria agotada" in answers["base"].error
    assert answers["tuned"].error is None and answers["distilled"].stats.new_tokens > 0
    # the same passages went to every variant that was given all of them
    assert [p.text for p in answers["tuned"].passages] == [p.text for p in answers["distilled"].passages]


def test_no_models_gives_an_extractive_answer_and_the_command(course_index, tmp_path):
    engine = Engine(registry=Registry(tmp_path / "none", include_reference=False), index=course_index)
    answer = engine.ask(QUESTION)
    assert answer.extractive and answer.has_valid_citation
    assert any("make models" in n for n in answer.notices)


def test_missing_index_still_answers_and_says_how_to_build_it(registry, tmp_path):
    engine = Engine(AppConfig(index_dir=tmp_path / "no-index"), registry=registry)
    answer = engine.ask(QUESTION, settings=SHORT)
    assert answer.error is None and not answer.passages
    assert any("python -m index build --docs course --out" in n for n in answer.notices)


def test_older_format_model_dir_is_reported_not_loaded(tiny_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_models / "tuned", models / "tuned")
    (models / "base").mkdir(parents=True)  # no config.json: an older or broken export
    reg = Registry(models, include_reference=False)
    assert reg.names == ["tuned"]
    assert "make models" in reg.problems[0].message
    assert "base" in Engine(registry=reg, index=object()).models_notice()


def test_empty_question_is_not_sent_to_a_model(engine):
    answer = engine.ask("  ")
    assert "Escribe una pregunta" in answer.text and answer.stats is None


def test_evaluation_scores_the_very_answer_the_app_gives(engine):
    from assistant.evaluation import evaluate

    row = {"question": QUESTION, "answer": "Dar la palabra correcta.", "keys": [["palabra correcta"]]}
    scores = {s.variant: s for s in evaluate(engine, [row], SHORT, variants=["base", "tuned"])}
    for name in ("base", "tuned"):
        app = engine.ask(QUESTION, name, SHORT)  # what the Chat shows for the same question and settings
        scored = scores[name].answers[0]
        assert scored.answer == app.text and scored.new_tokens == app.stats.new_tokens
        assert [c["number"] for c in scored.citations] == [c.number for c in app.citations]


def test_the_extractive_answer_gets_most_course_dev_questions_right(course_index, tmp_path):
    """The Chat's floor, measured the way `python -m assistant evaluate` does: 69 % on the 95 `course/`
    dev questions when this was written (61 % before the answer weighed rare words; README)."""
    from assistant.evaluation import answer_one
    from training.metrics import key_scores, read_qa

    engine = Engine(registry=Registry(tmp_path / "none", include_reference=False), index=course_index)
    rows = read_qa(Path("tests/data/qa_course.jsonl"))
    correct = []
    for row in rows:
        prepared = engine.prepare(row["question"])
        assert prepared.idf and all(w > 0 for w in prepared.idf.values())
        answer = answer_one(engine, prepared, EXTRACTIVE, SHORT)
        assert answer.text == engine.answer(prepared, EXTRACTIVE).text  # what the Chat shows
        assert len(answer.text.split()) <= 200
        correct.append(key_scores(answer.text, row["keys"])[0])
    assert sum(correct) / len(correct) >= 0.65


def test_evaluation_says_whether_the_key_facts_were_in_what_each_variant_read(engine):
    from assistant.evaluation import evaluate, shown_windows
    from training.metrics import key_scores
    from training.prompts import focus

    prepared = engine.prepare(QUESTION)
    top = prepared.passages[0].text
    width = engine.registry.spec("tuned").max_passage_chars
    seen = focus(top, QUESTION, width)
    windows = " ".join(focus(p.text, QUESTION, width) for p in prepared.passages)
    unseen = next(w for w in top.split() if len(w) > 6 and w.isalpha() and key_scores(windows, [[w]])[0] == 0)
    rows = [{"question": QUESTION, "answer": "-", "keys": [[seen.removeprefix("… ").split()[0]]]},
            {"question": QUESTION, "answer": "-", "keys": [[unseen]]}]
    scores = {s.variant: s for s in evaluate(engine, rows, SHORT, variants=["tuned"])}
    assert [a.keys_shown for a in scores["tuned"].answers] == [1.0, 0.0]
    assert [a.keys_shown for a in scores["extractivo"].answers] == [1.0, 1.0]  # it reads whole passages
    assert [a.keys_first for a in scores["tuned"].answers] == [1.0, 0.0]  # `seen` opens window [1]
    answer = engine.answer(prepared, "tuned", SHORT)
    assert "\n".join(shown_windows(engine, QUESTION, answer)).startswith(focus(answer.passages[0].text, QUESTION, width))


def test_the_chat_opens_on_the_variant_the_report_measured_best(tiny_models, course_index, tmp_path):
    import json

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    engine = Engine(registry=Registry(models, include_reference=False), index=course_index)
    assert json.loads((models / "report.json").read_text())["best_variant"] == "tuned"
    report = json.loads((models / "report.json").read_text()) | {"best_variant": "distilled"}
    (models / "report.json").write_text(json.dumps(report))
    assert engine.default_variant() == "distilled"
    (models / "report.json").write_text(json.dumps(report | {"best_variant": "gone"}))
    assert engine.default_variant() == "tuned"  # a variant that is not there: the preference order
    (models / "report.json").write_text(json.dumps(report | {"best_variant": "extractivo"}))
    assert engine.default_variant() == "extractivo" and engine.default_model() == "tuned"
    answer = engine.ask(QUESTION)  # the default: the passages' best sentences, cited, no model
    assert answer.extractive and answer.stats is None and answer.citations
    assert engine.ask(QUESTION, "extractivo").text == answer.text
    assert engine.choices == ["base", "tuned", "distilled", "extractivo"]
    (models / "report.json").unlink()
    assert engine.default_variant() == "tuned"


def test_a_question_the_course_does_not_cover_is_not_answered(engine, course_index):
    from assistant.engine import NOT_COVERED

    for question in ("¿Quién ganó el mundial de fútbol de 2010?", "¿Cómo se prepara una tortilla de patatas?"):
        prepared = engine.prepare(question)
        assert prepared.question.problem == NOT_COVERED and prepared.passages, "retrieved, but too far"
        answer = engine.answer(prepared, "tuned", SHORT)
        assert answer.text == NOT_COVERED and answer.stats is None, "nothing was generated"
    prepared = engine.prepare(QUESTION)
    assert prepared.question.problem is None
    assert all(0.83 <= p.relevance <= 1.0 for p in prepared.passages[:1])
    off = course_index.config.with_overrides(min_relevance=0.0)
    assert off.relevance_threshold() == 0.0


def test_an_answer_cut_at_the_token_limit_says_so(engine):
    answer = engine.ask(QUESTION, "tuned", DecodingSettings(strategy="sampling", seed=1, max_new_tokens=8))
    assert answer.stats is not None
    assert answer.stats.finish == "length", "random tiny weights never stop within 8 tokens"
    assert any("se cortó al llegar al máximo de 8 tokens" in n for n in answer.notices)
    full = engine.ask("¿Quién ganó el mundial de fútbol de 2010?", "tuned", DecodingSettings(max_new_tokens=8))
    assert not any("se cortó" in n for n in full.notices), "nothing generated, nothing cut"


def test_an_answer_that_starts_repeating_itself_ends_before_the_repeat(engine):
    """Random tiny weights decoded greedily fall into a loop (here «\\n» again and again); with
    `stop_on_repeat` the answer ends where the loop begins, its stats line says why, and it is the uncut answer's
    beginning."""
    uncut = engine.ask(QUESTION, "tuned", DecodingSettings(max_new_tokens=48, stop_on_repeat=0))
    assert uncut.stats.finish == "length" and uncut.stats.new_tokens == 48
    cut = engine.ask(QUESTION, "tuned", DecodingSettings(max_new_tokens=48, stop_on_repeat=3))
    assert cut.stats.finish == "repeat", "48 greedy tokens of random weights repeat some run of 3"
    assert cut.stats.new_tokens < 48 and len(cut.steps) < cut.stats.new_tokens
    shown, generated = [s.token for s in cut.steps], [s.token for s in uncut.steps]
    assert shown == generated[:len(shown)] and repeat_start(generated, 3) == len(shown)
    assert uncut.text.startswith(cut.text)
    assert "empezó a repetirse" in cut.stats.line() and "repetirse" not in uncut.stats.line()


def test_line_break_ids_is_the_single_newline_token(registry):
    from assistant.generation import line_break_ids

    tok = registry.get("tuned").tokenizer
    ids = line_break_ids(tok)
    assert len(ids) == 1 and tok.decode(ids) == "\n"


def test_min_sentences_writes_only_the_indexed_documents_and_prompt_tokens(engine, monkeypatch):
    """Random tiny weights sample from the whole vocabulary; held to `min_sentences`, every token they write
    is one the course index, the answer format or the prompt holds. (The tiny vocabulary is smaller than
    VOCABULARY_TOP, so the general tokens are left out here.)"""
    monkeypatch.setattr("assistant.engine.VOCABULARY_TOP", 0)
    monkeypatch.setattr("assistant.engine._VOCABULARIES", {})
    model = engine.registry.get("tuned")
    allowed = engine.vocabulary(model)
    assert allowed is engine.vocabulary(model), "built once per model and index"
    chunk_ids = model.tokenizer(engine.index.chunks[0].text, add_special_tokens=False)["input_ids"]
    assert allowed[chunk_ids].all() and not allowed.all()
    settings = DecodingSettings(strategy="sampling", seed=3, temperature=2.0, top_k=0, max_new_tokens=24,
                                min_sentences=3, stop_on_repeat=0)
    prompt = build_prompt(model, QUESTION, [], False, settings.max_new_tokens)
    gen = StreamedGeneration(model, prompt.input_ids, settings, prompt.max_new_tokens, prompt.stop_strings,
                             vocabulary=allowed)
    gen.run()
    written = gen._new_ids()
    assert all(allowed[i] or i in prompt.input_ids for i in written)
    assert len(written) == 24 or written[-1] in end_of_turn_ids(model.tokenizer)


def test_a_checkpoint_s_suppressed_tokens_are_never_written_without_transformers_per_step_mask(engine, monkeypatch):
    """`generation_config.suppress_tokens` (Gemma's placeholders) still holds, through a mask built once
    (`SuppressTokens`), not transformers' processor, which rebuilt it over the whole vocabulary at every step."""
    from transformers.generation.logits_process import SuppressTokensLogitsProcessor

    def refuse(*args, **kwargs):
        raise AssertionError("transformers' per-step suppression ran")

    monkeypatch.setattr(SuppressTokensLogitsProcessor, "__call__", refuse)
    model = engine.registry.get("tuned")
    width = len(model.tokenizer)
    ends = set(end_of_turn_ids(model.tokenizer))
    banned = [i for i in range(3, width, 2) if i not in ends] + [width + 50]  # beyond the scores: ignored
    monkeypatch.setattr(model.model.generation_config, "suppress_tokens", banned)
    settings = DecodingSettings(strategy="sampling", seed=5, temperature=2.0, top_k=0, max_new_tokens=24,
                                min_sentences=0, stop_on_repeat=0)
    prompt = build_prompt(model, QUESTION, [], False, settings.max_new_tokens)
    gen = StreamedGeneration(model, prompt.input_ids, settings, prompt.max_new_tokens, prompt.stop_strings)
    gen.run()
    written = gen._new_ids()
    assert written and not set(written) & set(banned)
    assert model.model.generation_config.suppress_tokens == banned, "the checkpoint's config is left alone"


def test_concurrent_sessions_sampling_on_different_variants_reproduce_their_seeds(engine):
    """Five sessions ask at once, sampling on three variants with their own seeds: every answer is the
    one the same question and seed give alone (torch's generator is process-wide; the variant locks
    alone would let their draws interleave)."""
    asks = [(v, seed) for v, seed in zip(["tuned", "distilled", "base", "tuned", "distilled"], range(5), strict=True)]
    settings = {seed: DecodingSettings(strategy="sampling", seed=seed, top_k=0, temperature=1.5, max_new_tokens=48)
                for _, seed in asks}
    prepared = engine.prepare(QUESTION)
    alone = {(v, seed): engine.answer(prepared, v, settings[seed]).text for v, seed in asks}
    start, together, errors = threading.Barrier(len(asks)), {}, []

    def session(v, seed):
        try:
            start.wait()
            together[(v, seed)] = engine.answer(prepared, v, settings[seed]).text
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=a) for a in asks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(together) == len(asks)
    assert together == alone


@pytest.mark.skipif(ALL_THREADS < 2, reason="needs at least two PyTorch threads to tell the phases apart")
def test_a_serial_asking_thread_still_gets_answers_generated_on_every_core(registry):
    """`serial_torch` puts the thread that reads the stream on one PyTorch thread (so it holds no OpenMP pool
    beside the generating worker's); the worker's forward passes still run on every core, and the answer is
    the one a thread on every core gets."""
    from assistant.generation import serial_torch

    variant = registry.get("tuned")
    prompt = build_prompt(variant, QUESTION, [], False, SHORT.max_new_tokens)
    seen: list[int] = []
    out: dict = {}

    def ask(serial: bool) -> None:
        if serial:
            serial_torch()
        out["asking"] = torch.get_num_threads()
        out[serial] = StreamedGeneration(variant, prompt.input_ids, SHORT, prompt.max_new_tokens,
                                         prompt.stop_strings).run().text

    hook = variant.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        for serial in (True, False):
            thread = threading.Thread(target=ask, args=(serial,))
            thread.start()
            thread.join(timeout=120)
            if serial:
                assert out["asking"] == 1 and seen and set(seen) == {ALL_THREADS}
    finally:
        hook.remove()
    assert out[True] == out[False]
    assert torch.get_num_threads() == ALL_THREADS, "this thread's count is untouched"


@pytest.mark.skipif(ALL_THREADS < 2, reason="needs at least two PyTorch threads to tell the phases apart")
def test_prompt_uses_every_core_and_decoding_the_decode_threads(registry):
    """The prompt's forward pass runs on every thread, the tokens after it on `decode_threads`, and the
    caller's thread count is left as it was; the text does not depend on the thread count."""
    variant = registry.get("tuned")
    prompt = build_prompt(variant, QUESTION, [], False, SHORT.max_new_tokens)
    seen: list[int] = []
    hook = variant.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        texts = []
        for threads in (1, 0):
            seen.clear()
            gen = StreamedGeneration(variant, prompt.input_ids, SHORT, prompt.max_new_tokens,
                                     prompt.stop_strings, decode_threads=threads)
            texts.append(gen.run().text)
            if threads:
                assert seen[0] == ALL_THREADS and len(seen) > 1 and set(seen[1:]) == {1}
            else:
                assert set(seen) == {ALL_THREADS}
    finally:
        hook.remove()
    assert texts[0] == texts[1]
    assert torch.get_num_threads() == ALL_THREADS


def test_decode_threads_come_from_the_environment():
    assert AppConfig.from_env({"COURSE_DECODE_THREADS": "0"}).decode_threads == 0
    assert AppConfig.from_env({}).decode_threads == AppConfig().decode_threads
    with pytest.raises(ValueError, match="COURSE_DECODE_THREADS='dos'"):
        AppConfig.from_env({"COURSE_DECODE_THREADS": "dos"})
    config = AppConfig(decode_threads=2)
    assert AppConfig.from_env(config.to_env()) == config


def test_first_passage_split_tells_reading_one_passage_from_choosing_one():
    from assistant.evaluation import ScoredAnswer, VariantScore, first_passage_split

    def scored(correct, shown, first):
        return ScoredAnswer("q", "tuned", "a", "r", [["k"]], correct, correct, 0.0, 0.0, 1, True,
                            keys_shown=shown, keys_first=first)

    score = VariantScore("tuned", [scored(1.0, 1.0, 1.0), scored(1.0, 1.0, 1.0), scored(0.0, 1.0, 1.0),
                                   scored(0.0, 1.0, 0.0), scored(1.0, 1.0, 0.0), scored(0.0, 0.0, 0.0),
                                   scored(float("nan"), float("nan"), float("nan"))])
    assert first_passage_split(score) == ("tuned: claves en [1]: 2 de 3 correctas; solo en otro pasaje: 1 de 2 "
                                          "correctas; no visibles: 0 de 1 correctas")
    assert first_passage_split(VariantScore("tuned", [scored(float("nan"), float("nan"), float("nan"))])) == ""
