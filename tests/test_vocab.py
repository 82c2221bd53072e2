"""Vocabulary pruning (training/vocab.py): the student's tokenizer splits the course text exactly as the
teacher's, loses no other text, and its logits are the teacher's at the kept ids."""

from __future__ import annotations

import pytest
import torch
from conftest import COURSE
from transformers import AutoModelForCausalLM, AutoTokenizer

from training import kd, vocab

OTHER = "Atención multi-cabeza: ¿qué es? Ελληνικά, 中文, ∑ softmax(QKᵀ/√d) 🙂"


def course_texts() -> list[str]:
    """A few paragraphs of the course: the tiny 512-token vocabulary has tokens they never use."""
    return [p.read_text(encoding="utf-8")[:400] for p in sorted(COURSE.rglob("*.md"))[:3]]


@pytest.fixture(scope="module")
def pruned(tiny_models):
    tok = AutoTokenizer.from_pretrained(tiny_models / "tuned")
    keep = vocab.kept_ids(tok, course_texts(), top=16)
    return tok, keep, vocab.prune_tokenizer(tok, keep)


def test_the_pruned_tokenizer_splits_the_text_it_was_built_from_as_the_teacher_does(pruned):
    tok, keep, small = pruned
    assert len(small) == len(keep) < len(tok)
    assert keep == sorted(keep) and tok.eos_token_id in keep
    for text in course_texts():
        ids = small(text, add_special_tokens=False)["input_ids"]
        assert [keep[i] for i in ids] == tok(text, add_special_tokens=False)["input_ids"]


def test_text_outside_the_kept_vocabulary_is_split_smaller_never_lost(pruned):
    tok, keep, small = pruned
    ids = small(OTHER, add_special_tokens=False)["input_ids"]
    assert small.decode(ids) == OTHER
    assert len(ids) >= len(tok(OTHER, add_special_tokens=False)["input_ids"])
    assert small.eos_token == tok.eos_token and small.chat_template == tok.chat_template


def test_a_pruned_student_gives_the_teacher_s_logits_at_the_kept_ids(tiny_models, pruned):
    tok, keep, small = pruned
    teacher = AutoModelForCausalLM.from_pretrained(tiny_models / "tuned").eval()
    student = kd.make_student(teacher, teacher.config.num_hidden_layers, "block")
    vocab.prune_embeddings(student, keep)
    student.eval()
    assert student.config.vocab_size == len(keep) == student.get_output_embeddings().weight.shape[0]
    assert student.config.eos_token_id == keep.index(teacher.config.eos_token_id)
    ids = small(course_texts()[0][:300], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        s = student(ids).logits
        t = teacher(torch.tensor(keep)[ids]).logits[..., keep]
    torch.testing.assert_close(s, t)


def test_bpe_parts_follow_the_merge_ranks():
    ranks = {("a", "b"): 0, ("ab", "c"): 1, ("b", "c"): 2}
    assert vocab.bpe_parts("abc", ranks) == (["abc"], ["a", "b", "c", "ab", "abc"])
    assert vocab.bpe_parts("bca", ranks) == (["bc", "a"], ["b", "c", "a", "bc"])
