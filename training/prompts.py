"""The prompt format the models are trained on, and the app asks with.

One module owns it so that instruction data (`training.instruct`), evaluation (`training.evaluate`) and the
runtime (`assistant`) cannot drift apart: a tuned model only follows the format it was tuned on.

- Chat models (tuned, distilled, the reference) get `messages` rendered by the tokenizer's chat template
  (ChatML: `<|im_start|>role\\n...<|im_end|>`).
- A base model, which was never taught to follow instructions, gets a few-shot plain-text prompt
  (`few_shot_prompt`) and is stopped at the next `Pregunta:`.
- With chain of thought on, the answer has two delimited parts: `Razonamiento:` ... `Respuesta final:` ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SYSTEM = (
    "Eres el asistente del curso de PLN. Respondes en español con la frase de los pasajes que responde "
    "a la pregunta y citas su número, por ejemplo [1]. Si los pasajes no la contienen, lo dices."
)
"""Short on purpose: every token of it is prefilled before each answer (SmolLM2 reads ~500 tokens/s on 2 cores)."""
COT_INSTRUCTION = (
    "Piensa paso a paso: escribe primero «Razonamiento:» con los pasos, y después «Respuesta final:» "
    "con la respuesta citando los pasajes."
)
REASONING_MARK = "Razonamiento:"
FINAL_MARK = "Respuesta final:"
NOT_FOUND = "Los pasajes no contienen la respuesta a esta pregunta."

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""ChatML, the format SmolLM2-Instruct also uses, so the reference model shares the prompts."""

GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
    "{% else %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user') + '\n' + "
    "(ns.system if message['role'] == 'user' else '') + message['content'] + '<end_of_turn>\n' }}"
    "{% if message['role'] == 'user' %}{% set ns.system = '' %}{% endif %}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
"""Gemma's turn format (`<start_of_turn>user … <end_of_turn>`, the system text opening the first user
turn, as Gemma has no system role), for the Gemma 3 base model, whose GGUF carries no chat template."""
GEMMA_START_OF_TURN = "<start_of_turn>"
GEMMA_END_OF_TURN = "<end_of_turn>"


def add_chat_format(tokenizer, model_type: str) -> None:
    """Give a base model's tokenizer the chat format it will be tuned on, when it has none: Gemma's own turns
    for Gemma (whose vocabulary has them), ChatML otherwise. An answer then ends with the turn's end token."""
    if tokenizer.chat_template:
        return
    if model_type.startswith("gemma"):
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        tokenizer.eos_token = GEMMA_END_OF_TURN
    else:
        tokenizer.chat_template = CHAT_TEMPLATE


@dataclass(frozen=True)
class PromptPassage:
    """A numbered passage as a prompt shows it. `label` is where it comes from (file › heading)."""

    number: int
    text: str
    label: str = ""
    as_is: bool = False
    """The text is already the window the prompt shows (a training window opening before its answer): `focus`
    does not move it, only clips it to the width."""


def location(page: int | None, slide: int | None) -> str:
    """Where in its file a passage is, as prompts and the sources list name it: `p. 3`, `diapositiva 2`."""
    if page is not None:
        return f"p. {page}"
    if slide is not None:
        return f"diapositiva {slide}"
    return ""


def passage_label(source: str, heading_path: Sequence[str] = (), location: str = "") -> str:
    """How a prompt names a passage's origin: `file › last heading`, plus page/slide when known."""
    parts = [source] + ([heading_path[-1]] if heading_path else []) + ([location] if location else [])
    return " › ".join(p for p in parts if p)


def clip(text: str, max_chars: int) -> str:
    """Cut `text` at a word boundary so a small model's context is not overrun."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0]
    return cut + " …"


def passage_body(text: str) -> str:
    """A passage without its leading Markdown heading lines (the label already names the section), so the
    text right after `[n]:` is the passage's first sentence: what an answer quotes."""
    lines = text.strip().splitlines()
    while lines and (lines[0].lstrip().startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines) or text


SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-ZÁÉÍÓÚÑ¿¡«(*0-9-])")


def sentences(text: str) -> list[str]:
    """A passage's body as one line of text cut into sentences (a list item or a label ending in ':' counts)."""
    return [s for s in SENTENCE_END.split(" ".join(passage_body(text).split())) if s]


def focus(text: str, question: str, max_chars: int) -> str:
    """What of a passage the prompt shows, read where it answers the question: from the sentence that
    shares the most content words with the question (the index's Spanish analyzer: accents folded,
    stopwords dropped, Snowball stems; the earliest on a tie), then what follows, up to `max_chars`. Without
    any shared word, or when that sentence is the first, the passage's opening is shown.

    The sentence most like the question always opens the window, even when the whole passage would fit:
    the tuned models learn to quote a window's opening sentence, and with room to spare the sentences
    before it pushed the answer down (3 x 500-character windows: 53 -> 56 of the 95 `course/` questions
    against filling the room with the sentences before; docs/experiments.md, 2026-12-07)."""
    parts = sentences(text)
    best = 0
    if question.strip() and parts:
        terms = set(content_stems(question))
        overlap = [len(terms & set(content_stems(s))) for s in parts]
        best = max(range(len(parts)), key=lambda i: (overlap[i], -i))
        best = best if overlap[best] else 0
    if best == 0:
        return clip(" ".join(passage_body(text).split()), max_chars)
    return f"… {clip(' '.join(parts[best:]), max_chars)}"


def content_stems(text: str) -> list[str]:
    """The index's Spanish analyzer (stems), loaded once: what the focus and the extractive answer match on."""
    global _ANALYZER
    if _ANALYZER is None:
        from index.lexical import SpanishAnalyzer

        _ANALYZER = SpanishAnalyzer("stems")
    return _ANALYZER(text)


_ANALYZER = None


def format_passages(passages: Sequence[PromptPassage], max_chars: int = 600, question: str = "") -> str:
    """`[n]: text (fuente: label)` per passage, each `focus`ed on the question. An answer quotes a passage as
    `Según [n]: ...`, the same `[n]:` cue, which even a small model can learn to follow (an induction
    pattern)."""
    lines = []
    for p in passages:
        source = f" (fuente: {p.label})" if p.label else ""
        shown = focus(p.text, "" if p.as_is else question, max_chars)  # no question: the opening, clipped
        lines.append(f"[{p.number}]: {shown}{source}")
    return "\n".join(lines)


CITATION_STYLES = ("lead", "end")


def cite(answer: str, number: int, style: str = "lead") -> str:
    """The answer format the models are tuned on: the passage's words with their citation, first
    (`lead`: «Según [n]: …») or after them (`end`: «… [n]»). With the citation first the model commits to a
    passage number before it has chosen what to say; at the end the number follows from what it quoted."""
    if style == "end":
        return f"{answer} [{number}]"
    return f"Según [{number}]: {answer}"


def user_message(question: str, passages: Sequence[PromptPassage], cot: bool = False,
                 max_passage_chars: int = 600) -> str:
    parts = []
    if passages:
        parts.append("Pasajes:\n" + format_passages(passages, max_passage_chars, question))
    else:
        parts.append("Pasajes: (ninguno)")
    parts.append(f"Pregunta: {question.strip()}")
    if cot:
        parts.append(COT_INSTRUCTION)
    return "\n\n".join(parts)


def chat_messages(question: str, passages: Sequence[PromptPassage], cot: bool = False,
                  max_passage_chars: int = 600) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": user_message(question, passages, cot, max_passage_chars)},
    ]


def answer_prefix(cot: bool) -> str:
    """What the prompt writes of the answer itself, after the assistant's turn opens: with chain of
    thought on, the Spanish `Razonamiento:` mark. The tuned models begin their CoT answers with it (it is
    how `cot_answer` starts), and it keeps an untuned chat model from switching to English."""
    return REASONING_MARK if cot else ""


def cot_answer(reasoning: Sequence[str], final: str) -> str:
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(reasoning, 1))
    return f"{REASONING_MARK}\n{steps}\n{FINAL_MARK} {final}"


def split_reasoning(answer: str) -> tuple[str, str]:
    """(reasoning, final answer). Without the marks the whole text is the answer."""
    if FINAL_MARK in answer:
        reasoning, final = answer.split(FINAL_MARK, 1)
        reasoning = reasoning.replace(REASONING_MARK, "", 1).strip()
        return reasoning, final.strip()
    if answer.lstrip().startswith(REASONING_MARK):
        return answer.lstrip()[len(REASONING_MARK):].strip(), ""
    return "", answer.strip()


FEW_SHOT = [
    (
        [PromptPassage(1, "La perplejidad es la exponencial de la entropía cruzada media por token. "
                          "Cuanto más baja, mejor predice el modelo el texto de prueba.", as_is=True)],
        "¿Qué mide la perplejidad?",
        "Según [1]: La perplejidad es la exponencial de la entropía cruzada media por token.",
    ),
    (
        [PromptPassage(1, "El muestreo top-k conserva solo los k tokens más probables y renormaliza "
                          "la distribución antes de muestrear.", as_is=True)],
        "¿Qué hace el muestreo top-k?",
        "Según [1]: El muestreo top-k conserva solo los k tokens más probables y renormaliza la distribución "
        "antes de muestrear.",
    ),
]
FEW_SHOT_STOP = "\nPregunta:"


def few_shot_prompt(question: str, passages: Sequence[PromptPassage], cot: bool = False,
                    max_passage_chars: int = 600) -> str:
    """Plain-text prompt for a base model: worked examples, then the question. Generation ends at
    `FEW_SHOT_STOP` (the start of a next example)."""
    blocks = []
    for ex_passages, ex_question, ex_answer in FEW_SHOT:
        blocks.append(f"Pasajes:\n{format_passages(ex_passages)}\nPregunta: {ex_question}\nRespuesta: {ex_answer}")
    lead = f"Pasajes:\n{format_passages(passages, max_passage_chars, question)}" if passages else "Pasajes: (ninguno)"
    tail = f"{lead}\nPregunta: {question.strip()}\nRespuesta:"
    if cot:
        tail += f" {answer_prefix(cot)}"
    return "\n\n".join([*blocks, tail])


CITATION = re.compile(r"\[(\d{1,2})\]")


def cited_numbers(answer: str) -> list[int]:
    """Passage numbers an answer cites, in order of first appearance."""
    seen: list[int] = []
    for m in CITATION.finditer(answer):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen
