"""Runtime pieces without a model: decoding settings, prompts, citations, question guards."""

import pytest

from assistant.answer import assemble_answer, extractive_answer, highlight, lead_answer, resolve_citations
from assistant.engine import MAX_QUESTION_CHARS, guard_question, looks_spanish
from assistant.generation import (
    AnswerRepeatStop,
    LateStop,
    MinSentences,
    StopFilter,
    ends_on_list_number,
    late_stop_at,
    repeat_start,
    sentence_ends,
)
from assistant.registry import FORMAT, ModelLoadError, read_variant_spec
from assistant.retrieval import Passage
from assistant.settings import DecodingSettings, SettingsError
from training.prompts import FEW_SHOT_STOP, PromptPassage, few_shot_prompt


def passage(n: int, text: str = "La búsqueda en haz conserva las k hipótesis más probables.") -> Passage:
    return Passage(n, text, f"notas/tema{n}.md", ("Decodificación",), "p. 3" if n == 2 else "", 1.0 / n)


# ---------------------------------------------------------------------------- decoding settings

def test_default_settings_are_greedy():
    kw = DecodingSettings().generate_kwargs()
    assert kw["do_sample"] is False and kw["num_beams"] == 1
    assert "temperature" not in kw


def test_sampling_settings_map_onto_generate():
    kw = DecodingSettings(strategy="sampling", temperature=0.3, top_k=20, top_p=0.8, seed=7).generate_kwargs()
    assert kw | {"do_sample": True, "temperature": 0.3, "top_k": 20, "top_p": 0.8} == kw


def test_beam_settings_map_onto_generate():
    kw = DecodingSettings(strategy="beam", num_beams=4, length_penalty=0.5).generate_kwargs()
    assert (kw["num_beams"], kw["length_penalty"], kw["do_sample"]) == (4, 0.5, False)


@pytest.mark.parametrize("field, value", [
    ("strategy", "nucleus"), ("temperature", 0.0), ("temperature", float("nan")), ("top_p", 1.5),
    ("top_k", -1), ("max_new_tokens", 0), ("repetition_penalty", 0.5), ("num_beams", 1.5), ("seed", -3),
    ("stop_on_repeat", -1), ("min_sentences", 11),
])
def test_impossible_settings_are_refused_naming_the_value(field, value):
    kwargs = {"strategy": "beam"} if field == "num_beams" else {}
    with pytest.raises(SettingsError, match=field):
        DecodingSettings(**kwargs, **{field: value})


def test_beam_needs_two_beams():
    with pytest.raises(SettingsError, match="num_beams=1"):
        DecodingSettings(strategy="beam", num_beams=1)


def test_active_fields_follow_the_strategy():
    assert "temperature" in DecodingSettings(strategy="sampling").active_fields()
    assert "temperature" not in DecodingSettings(strategy="beam").active_fields()
    assert "num_beams" not in DecodingSettings().active_fields()


def test_overrides_ignore_unset_flags():
    s = DecodingSettings().with_overrides(temperature=None, max_new_tokens=12)
    assert s.max_new_tokens == 12 and s.temperature == DecodingSettings().temperature


# ---------------------------------------------------------------------------- prompts (owned by training.prompts)

def test_repeat_start_finds_where_an_answer_begins_repeating_itself():
    assert repeat_start([1, 2, 3, 4, 1, 2, 3, 9], 3) == 4
    assert repeat_start([1, 2, 3, 4, 1, 2, 9, 1, 2], 3) is None, "two-token repeats are not three"
    assert repeat_start([5, 5, 5, 5], 3) == 1, "a token stuck in place repeats its own run"
    assert repeat_start([1, 2], 3) is None


def test_repeat_stop_counts_the_answer_only_and_each_beam_apart():
    import torch

    stop = AnswerRepeatStop(3, prompt_len=4)
    quoting = torch.tensor([[7, 8, 9, 1, 7, 8, 9]])  # the answer repeats the prompt's run: a quote
    assert not stop(quoting, None).any()
    beams = torch.tensor([[0, 0, 0, 0, 7, 8, 9, 5, 7, 8, 9],
                          [0, 0, 0, 0, 7, 8, 9, 5, 7, 8, 6]])
    assert stop(beams, None).tolist() == [True, False]


class _Words:
    """A tokenizer stand-in for `MinSentences`: id i is the i-th word."""

    words = ["<end>", "Según", "[1]:", "Es", "así.", "Y", "más.", "código"]

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(self.words[i] for i in ids)

    def convert_ids_to_tokens(self, ids):
        return ["▁" + self.words[i] if i in (1, 3, 6) else self.words[i] for i in ids]  # «Según», «Es», «más.»


def _not_ending():
    """Scores of a step where the model would rather not end (the end, id 0, below every other token)."""
    import torch

    scores = torch.zeros(1, 8)
    scores[0, 0] = -1.0
    return scores


def test_min_sentences_holds_the_end_back_until_the_answer_has_them():
    import torch

    hold = MinSentences(_Words(), 2, prompt_len=2, end_ids=[0])
    one = hold(torch.tensor([[1, 2, 3, 4]]), torch.zeros(1, 8))  # prompt «Según [1]:», answer «Es así.»
    assert one[0, 0] == -float("inf") and one[0, 5] == 0
    two = hold(torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.zeros(1, 8))  # «Es así. Y más.»
    assert two[0, 0] == 0


def test_a_list_number_ends_no_sentence():
    """Slide text numbers its items («- 2.»): counted as a sentence end, it let an answer stop one sentence short."""
    import torch

    assert sentence_ends("Se generan respuestas usando el modelo. - 2.") == 1
    assert sentence_ends("Paso uno. 3) Paso dos.") == 2
    assert sentence_ends("Lo presentó GPT-3. Se publicó en 1997. ¿Y luego?") == 3

    class _Listed(_Words):
        words = ["<end>", "Según", "[1]:", "Es", "así.", "-", "2.", "más."]

    hold = MinSentences(_Listed(), 2, prompt_len=2, end_ids=[0])
    listed = hold(torch.tensor([[1, 2, 3, 4, 5, 6]]), torch.zeros(1, 8))  # answer «Es así. - 2.»
    assert listed[0, 0] == -float("inf"), "one sentence and a list number: the end is still held back"
    two = hold(torch.tensor([[1, 2, 3, 4, 5, 6, 7]]), torch.zeros(1, 8))  # «Es así. - 2. más.»
    assert two[0, 0] == 0


def test_an_answer_never_ends_on_a_list_number_it_announced():
    """The student ended 18 of its 76 course-documents answers right after a list's number («… modelo. 2.»),
    with its sentences already written: the end stays held back until the item follows."""
    import torch

    assert ends_on_list_number("Es así. Y más. 2.") and ends_on_list_number("Es así. - 3) ")
    assert not ends_on_list_number("Se publicó en 2017.") and not ends_on_list_number("Es así. 2. Y más.")

    class _Listed(_Words):
        words = ["<end>", "Según", "[1]:", "Es", "así.", "Y", "más.", "2."]

    hold = MinSentences(_Listed(), 2, prompt_len=2, end_ids=[0])
    numbered = hold(torch.tensor([[1, 2, 3, 4, 5, 6, 7]]), torch.zeros(1, 8))  # «Es así. Y más. 2.»
    assert numbered[0, 0] == -float("inf"), "two sentences, then a list number: the end is held back"
    item = hold(torch.tensor([[1, 2, 3, 4, 5, 6, 7, 3, 4]]), torch.zeros(1, 8))  # «… 2. Es así.»
    assert item[0, 0] == 0


def test_min_sentences_writes_only_the_documents_and_prompt_tokens():
    import torch

    documents = torch.zeros(8, dtype=torch.bool)
    documents[[0, 3, 4, 5, 6]] = True  # not «código» (7), not the prompt's own words
    hold = MinSentences(_Words(), 1, prompt_len=2, end_ids=[0], allowed=documents, prompt_ids=[1, 2])
    scores = hold(torch.tensor([[1, 2, 3]]), _not_ending())
    assert scores[0, 7] == -float("inf"), "a token of neither the documents nor the prompt"
    assert scores[0, 1] == 0 and scores[0, 2] == 0 and scores[0, 5] == 0
    assert scores[0, 0] == -float("inf"), "no sentence yet: the end is held back"


def test_min_sentences_never_opens_a_new_turn_even_from_the_prompt():
    """Held back from ending its turn, a chat model opens a new one («….model Según [2]: …»); the turn start is
    banned though the prompt holds it, and whether the sentences are there or not."""
    import torch

    documents = torch.ones(8, dtype=torch.bool)
    hold = MinSentences(_Words(), 1, prompt_len=2, end_ids=[0], allowed=documents, prompt_ids=[1, 7],
                        start_ids=[7])
    for ids in ([[1, 7, 3]], [[1, 7, 3, 4]]):  # before and after the sentence
        scores = hold(torch.tensor(ids), _not_ending())
        assert scores[0, 7] == -float("inf") and scores[0, 5] == 0




def test_min_sentences_goes_on_with_the_prompts_words_or_a_new_line_where_the_model_would_have_ended():
    """Where ending the turn is the model's choice but held back, the next token opens one of the prompt's
    words or a new line (no «así.código», no role name); elsewhere any token may follow; no run of breaks."""
    import torch

    # prompt «Según Es más.» (ids 1, 3, 6; «Y», id 5, stands for the line break)
    hold = MinSentences(_Words(), 2, prompt_len=3, end_ids=[0], prompt_ids=[1, 3, 6], break_ids=[5])
    wants_end = torch.zeros(1, 8)
    wants_end[0, 0], wants_end[0, 7], wants_end[0, 5], wants_end[0, 6] = 5.0, 4.0, 3.0, 2.0
    scores = hold(torch.tensor([[1, 3, 6, 3, 4]]), wants_end.clone())  # answer «Es así.»
    assert scores[0].argmax() == 5 and scores[0, 7] == -float("inf") and scores[0, 0] == -float("inf")
    assert scores[0, 6] == 2.0 and scores[0, 4] == -float("inf"), "«más.» opens a word of the prompt, «así.» not"
    after_break = hold(torch.tensor([[1, 3, 6, 3, 4, 5]]), wants_end.clone())
    assert after_break[0].argmax() == 6 and after_break[0, 5] == -float("inf"), "not a run of line breaks"
    wants_more = torch.zeros(1, 8)
    wants_more[0, 7] = 5.0
    free = hold(torch.tensor([[1, 3, 6, 3, 4]]), wants_more)  # the model did not want to end
    assert free[0].argmax() == 7 and free[0, 0] == -float("inf")


def test_a_long_passage_is_shown_where_it_answers_the_question():
    from training.prompts import focus, format_passages

    filler = " ".join(f"La frase {i} habla de otra cosa distinta." for i in range(12))
    text = f"# Suavizado\n{filler} Kneser-Ney cuenta en cuántos contextos distintos aparece una palabra. Fin."
    shown = focus(text, "¿Qué tiene en cuenta Kneser-Ney?", 160)
    assert "contextos distintos" in shown and shown.startswith("… ") and len(shown) <= 165
    assert focus(text, "¿Qué es la perplejidad?", 160).startswith("La frase 0")  # no shared word: the opening
    short = "La perplejidad mide la sorpresa."
    assert focus(short, "¿Kneser-Ney?", 160) == short  # no shared word: a passage that fits is shown whole
    two = "El suavizado reparte masa de probabilidad. Kneser-Ney cuenta contextos distintos. Otra cosa."
    # the answering sentence opens the window even when the whole passage would fit (models quote the opening)
    assert focus(two, "¿Qué cuenta Kneser-Ney?", 160) == "… Kneser-Ney cuenta contextos distintos. Otra cosa."
    assert focus(two, "¿Qué hace el suavizado?", 160) == two  # the first sentence answers: shown from the top
    assert "contextos distintos" in format_passages([PromptPassage(1, text)], 160, "¿Qué tiene en cuenta Kneser-Ney?")


def test_few_shot_prompt_with_cot_ends_in_reasoning_mark():
    text = few_shot_prompt("¿Qué es la perplejidad?", [PromptPassage(1, "texto", "a.md")], cot=True)
    assert text.rstrip().endswith("Razonamiento:")
    assert text.count("Pregunta:") == 3  # two worked examples + the question


def test_stop_filter_hides_the_next_example():
    f = StopFilter((FEW_SHOT_STOP,))
    pieces = [f.feed(p) for p in ["Es la exponencial [1].", "\nPre", "gunta: otra"]]
    assert "".join(pieces) + f.flush() == "Es la exponencial [1]."
    assert pieces[1] == ""  # held back while it could still be the stop string


def test_stop_filter_releases_text_that_was_not_a_stop():
    f = StopFilter((FEW_SHOT_STOP,))
    out = f.feed("uno\nPre") + f.feed("cisamente dos") + f.flush()
    assert out == "uno\nPrecisamente dos"



NOT_FOUND_OPENING = ("Los pasajes no contienen",)


def test_the_not_found_sentence_ends_an_answer_only_after_its_first_sentence():
    answered = "Según [1]: La atención pondera los estados."
    for late in (" Los pasajes no contienen la respuesta.", "\nLos pasajes no contienen…",
                 "\nSegún [2]: Los pasajes no contienen la respuesta a esta pregunta.",
                 "\n2. Los pasajes no contienen la respuesta a esta pregunta.", " - Los pasajes no contienen…",
                 "\n- 1. Los pasajes no contienen la respuesta."):
        assert late_stop_at(answered + late, NOT_FOUND_OPENING) == len(answered), late
    alone = "Según [1]: Los pasajes no contienen la respuesta a esta pregunta. Según [2]: Se entrena así."
    assert late_stop_at(alone, NOT_FOUND_OPENING) is None, "said first, it is the answer"
    for first in ("Según [1]: 1. Los pasajes no contienen la respuesta.", "Según [1]: - Los pasajes no contienen…"):
        assert late_stop_at(first, NOT_FOUND_OPENING) is None, first
    listed = "Según [1]: (fuente: notas/lora.md)\nSegún [2]: Los pasajes no contienen la respuesta."
    assert late_stop_at(listed, NOT_FOUND_OPENING) == len("Según [1]: (fuente: notas/lora.md)"), "a new line"
    cot = ("Razonamiento:\n1. La pregunta es: ¿qué?\n2. Los pasajes [2] hablan de otros temas.\n"
           "Respuesta: Los pasajes no contienen la respuesta a esta pregunta.")
    assert late_stop_at(cot, NOT_FOUND_OPENING) is None, "a reasoning's final answer may say it"
    assert late_stop_at(answered + " Los pasajes dicen más.", NOT_FOUND_OPENING) is None


def test_stop_filter_streams_an_answer_without_its_late_not_found_sentence():
    f = StopFilter((), NOT_FOUND_OPENING)
    pieces = [f.feed(p) for p in ["Según [1]: Es así", ".", "\n", "Seg", "ún [2", "]: Los", " pasajes", " no contienen"]]
    assert pieces[:2] == ["Según [1]: Es así", "."] and not any(pieces[2:]), "held back, then dropped"
    assert f.stopped and f.final_text() == "Según [1]: Es así."
    f = StopFilter((), NOT_FOUND_OPENING)
    out = "".join(f.feed(p) for p in ["Es así.", "\nSegún [2]: Los", " pesos suman uno."]) + f.flush()
    assert out == "Es así.\nSegún [2]: Los pesos suman uno." and not f.stopped
    f = StopFilter((), NOT_FOUND_OPENING)
    pieces = [f.feed(p) for p in ["Es así.", "\n", "2", ".", " Los pasajes", " no contienen la"]]
    assert "".join(pieces) == "Es así." and f.final_text() == "Es así.", "a list number before it goes too"


def test_late_stop_ends_generation_on_each_row_apart():
    import torch

    class Words(_Words):
        words = ["<end>", "Según", "[1]:", "Es", "así.", "Los", "pasajes", "no", "contienen"]

    stop = LateStop(Words(), NOT_FOUND_OPENING, prompt_len=2)
    rows = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8],   # «Es así. Los pasajes no contienen»
                         [1, 2, 5, 6, 7, 8, 3, 4]])  # «Los pasajes no contienen Es así.»: said first
    assert stop(rows, None).tolist() == [True, False]

# ---------------------------------------------------------------------------- citations and answers

def test_citations_resolve_to_file_heading_and_page():
    cites = resolve_citations("Conserva k hipótesis [2] y [1], otra vez [2].", [passage(1), passage(2)])
    assert [c.number for c in cites] == [2, 1]
    assert cites[0].where() == "[2] notas/tema2.md · Decodificación · p. 3"


def test_citation_to_a_passage_not_given_is_flagged():
    answer = assemble_answer("tuned", "Eso dice [1] y [7].", [passage(1)], cot=False)
    assert answer.invalid_citations == [7]
    assert not answer.has_valid_citation
    assert "no corresponde" in answer.citations[1].where()


def test_an_answer_never_shows_a_source_tag_the_model_copied_from_its_prompt():
    raw = ("Según [1]: La atención de Bahdanau es aditiva. (fuente: notas/atencion.md › Bahdanau y Luong)\n"
           "Según [2]: Luong usa el producto escalar (fuente: notas/atencion.md › Luong) trata precisamente ese tema.")
    answer = assemble_answer("tuned", raw, [passage(1), passage(2)], cot=False)
    assert answer.text == "Según [1]: La atención de Bahdanau es aditiva.\nSegún [2]: Luong usa el producto escalar"
    assert [c.number for c in answer.citations] == [1, 2] and answer.raw == raw
    cut = assemble_answer("tuned", "Según [1]: Es aditiva (fuente: notas/atenc", [passage(1)], cot=False)
    assert cut.text == "Según [1]: Es aditiva", "a tag the token limit cut"
    said = "La función (ver la fuente) es aditiva [1]."
    assert assemble_answer("tuned", said, [passage(1)], cot=False).text == said
    misspelt = ("Según [1]: Lo aplica en todas las demás. (fuuntas/rnn.md › La RNN simple (Elman)) trata precisamente "
                "ese tema.\nSegún [2]: Q = X W_Q (fuuntas: diapositivas/clase-04.txt)")
    assert assemble_answer("distilled", misspelt, [passage(1), passage(2)], cot=False).text == \
        "Según [1]: Lo aplica en todas las demás.\nSegún [2]: Q = X W_Q", "a misspelt tag: its «›» or file name"
    aside = "Se guarda en model.safetensors (por ejemplo, en la práctica 2) y se carga después [1]."
    assert assemble_answer("tuned", aside, [passage(1)], cot=False).text == aside


def test_a_citation_is_supported_only_when_the_passage_says_what_the_answer_does():
    source = Passage(1, "El teacher forcing alimenta al decodificador con la palabra correcta del paso anterior.",
                     "notas/rnn.md", ("RNN",), "", 1.0)
    other = Passage(2, "La destilación entrena un estudiante pequeño con las probabilidades del maestro.",
                    "notas/kd.md", ("KD",), "", 0.5)
    text = ("Según [1]: el teacher forcing alimenta al decodificador con la palabra correcta. "
            "España ganó el mundial de fútbol de 2010 [2].")
    first, second = resolve_citations(text, [source, other])
    assert first.supported and first.support == 1.0
    assert first.valid and second.valid and not second.supported and second.support < 0.2
    assert not resolve_citations("Según [1].", [source])[0].supported, "a bare citation says nothing"


def test_cot_answer_keeps_reasoning_apart():
    raw = "Razonamiento:\n1. El pasaje [1] lo define.\nRespuesta final: Conserva k hipótesis [1]."
    answer = assemble_answer("tuned", raw, [passage(1)], cot=True)
    assert answer.text == "Conserva k hipótesis [1]."
    assert "lo define" in answer.reasoning
    assert answer.has_valid_citation


def test_cot_answer_without_final_mark_still_shows_text():
    answer = assemble_answer("tuned", "Razonamiento: pasos sin conclusión", [], cot=True)
    assert answer.text == "pasos sin conclusión" and answer.reasoning == ""
    assert any("no separó el razonamiento" in n for n in answer.notices), "the CoT toggle visibly did something"
    assert not assemble_answer("tuned", "Razonamiento: a.\nRespuesta final: b", [], cot=True).notices


def test_extractive_answer_quotes_the_sentences_that_match_the_question():
    first = passage(1, "La atención pondera los valores. El muestreo top-k conserva los k tokens más probables.")
    second = passage(2, "La búsqueda en haz conserva las k hipótesis más probables. Es más lenta que la voraz.")
    answer = extractive_answer("¿Qué conserva la búsqueda en haz?", [first, second], notices=["sin modelos"])
    assert answer.extractive and answer.notices == ["sin modelos"]
    assert answer.text.startswith("La búsqueda en haz conserva las k hipótesis más probables.")
    assert "atención" not in answer.text and [c.number for c in answer.citations][0] == 2
    nothing = extractive_answer("¿Quién ganó el mundial de 2010?", [first])
    assert "No encontré" in nothing.text and not nothing.citations
    lead = lead_answer([first, second])  # the earlier floor: the first sentences of every passage
    assert [c.number for c in lead.citations] == [1, 2] and lead.variant == "primeras-frases"


def test_extractive_answer_weighs_a_rare_question_word_above_common_ones():
    from training.prompts import content_stems

    question = "¿Qué mide la perplejidad de un modelo de lenguaje?"
    common = passage(1, "Un modelo de lenguaje asigna una probabilidad a cada secuencia de palabras del idioma.")
    rare = passage(2, "La perplejidad es la exponencial de la entropía cruzada media por token del texto de prueba.")
    idf = {s: 0.2 for s in content_stems(question)} | {content_stems("perplejidad")[0]: 4.0}
    assert extractive_answer(question, [common, rare]).text.startswith("Un modelo de lenguaje")  # counts only
    weighted = extractive_answer(question, [common, rare], idf=idf)
    assert weighted.text.startswith("La perplejidad es la exponencial") and weighted.citations[0].number == 2


def test_extractive_answer_completes_a_short_sentence_and_a_list_label():
    label = passage(1, "Intro larga sobre otra cosa distinta del tema. Las ventajas de LoRA son dos: "
                       "- Entrena muy pocos parámetros y no añade latencia al fusionar las matrices.")
    answer = extractive_answer("¿Qué ventajas tiene LoRA?", [label])
    assert "Las ventajas de LoRA son dos: - Entrena muy pocos parámetros" in answer.text
    assert "Intro larga" not in answer.text


def test_extractive_answer_skips_a_list_number_standing_alone():
    """Slides number their items on a line of their own; «- 3.» is no sentence, so a short chosen sentence
    brings the item after it, not its number."""
    text = ("Pasos de la atención: - 1. Se mide la similitud entre Q y K. - 2. "
            "Softmax: se normalizan los pesos para obtener probabilidades. - 3. Se combina V con esos pesos, "
            + "y así sucesivamente " * 12 + "hasta el final.")  # longer than LIST_WORDS: not answered whole
    answer = extractive_answer("¿Cómo se mide la similitud entre Q y K en la atención?", [passage(1, text)])
    assert "Se mide la similitud entre Q y K. Softmax: se normalizan los pesos" in answer.text
    assert "- 2." not in answer.text and "- 3." not in answer.text


def test_extractive_answer_brings_the_item_a_following_label_names():
    """A short sentence brings the next one; when that is a list's label, the label alone would dangle."""
    text = ("Formas de reducir las alucinaciones: - 1. Ajustar el modelo con datos de la tarea. - 2. RAG: "
            "- Recuperar documentos y responder a partir de ellos. - 3. Filtrado: usar un modelo de recompensa "
            + "entrenado con preferencias " * 12 + "humanas.")  # longer than LIST_WORDS: not answered whole
    answer = extractive_answer("¿Cómo se ajusta el modelo con datos de la tarea?", [passage(1, text)])
    assert "Ajustar el modelo con datos de la tarea. RAG: - Recuperar documentos y responder" in answer.text
    assert "Filtrado" not in answer.text


def test_extractive_answer_gives_a_short_numbered_list_whole():
    """A review answer that is a list: the sentence most like the question is one item, the others answer the rest."""
    text = ("7. ¿Cómo se evalúa un modelo de lenguaje?\n\n- 1. Perplejidad:\n - Mide lo bien que el modelo predice "
            "el texto de prueba.\n- 2. BLEU:\n - Compara una traducción con traducciones de referencia.\n- 3. ROUGE:\n"
            " - Compara un resumen con resúmenes de referencia.\n\nOtra nota sobre un tema distinto del curso.")
    answer = extractive_answer("¿Con qué métricas se evalúa una traducción o un resumen?", [passage(1, text)])
    assert answer.text == ("1. Perplejidad: Mide lo bien que el modelo predice el texto de prueba.\n2. BLEU: Compara una "
                           "traducción con traducciones de referencia.\n3. ROUGE: Compara un resumen con resúmenes de "
                           "referencia. [1]")  # one item a line, bullets gone, said once, the note after it left out
    labelled = extractive_answer("¿Qué abarca la BLEU además de traducir?", [
        passage(1, "Intro de otra cosa. Dos métricas: - 1. BLEU: para traducir. - 2. ROUGE: para resumir."),
        passage(2, "La BLEU abarca precisión de n-gramas con una penalización por brevedad.")])
    assert labelled.text == ("Dos métricas:\n1. BLEU: para traducir.\n2. ROUGE: para resumir. [1]\n\n"  # label first
                             "La BLEU abarca precisión de n-gramas con una penalización por brevedad. [2]")  # a paragraph
    long = text.replace("Compara un resumen", "Compara un resumen " + "muy " * 40)
    assert "1. Perplejidad" not in extractive_answer("¿Con qué métricas se evalúa una traducción o un resumen?",
                                                     [passage(1, long)]).text  # past LIST_WORDS: the items alone


def test_extractive_answer_brings_the_sentence_a_demonstrative_points_back_to():
    text = ("Durante el entrenamiento se da como entrada la palabra correcta del paso anterior, no la predicha. "
            "Esta técnica se llama teacher forcing. Tiene dos ventajas que se verán más adelante en el curso.")
    answer = extractive_answer("¿Qué es teacher forcing?", [passage(1, text)])
    assert answer.text.startswith("Durante el entrenamiento se da como entrada la palabra correcta")
    assert "Esta técnica se llama teacher forcing. [1]" in answer.text


def test_extractive_answer_adds_the_sentence_that_covers_what_the_first_lacks():
    question = "¿Qué función de puntuación usa Bahdanau y cuál usa Luong?"
    first = passage(1, "Bahdanau usa una función de puntuación aditiva que calcula cada peso con una pequeña red neuronal. "
                       "La puntuación de Bahdanau fue la primera de este tipo en publicarse. "
                       "Luong propuso puntuaciones multiplicativas como el producto escalar.")
    answer = extractive_answer(question, [first])
    assert "función de puntuación aditiva" in answer.text and "Luong propuso" in answer.text
    assert "publicarse" not in answer.text  # a second sentence on Bahdanau would repeat, not complete


def test_highlight_marks_the_stretch_the_answer_repeats():
    marked = highlight("Intro. La búsqueda en haz conserva las k hipótesis más probables.\nOtra línea.",
                       "Dice que la búsqueda en haz conserva las k hipótesis [1].")
    assert "**La búsqueda en haz conserva las k hipótesis**" in marked
    assert marked.endswith("\nOtra línea.")


# ---------------------------------------------------------------------------- question guards

def test_empty_question_gets_a_spanish_message():
    assert "Escribe una pregunta" in guard_question("   ").problem


def test_huge_question_is_truncated_with_a_notice():
    q = guard_question("¿qué es " + "muy " * 3000 + "largo?")
    assert len(q.text) == MAX_QUESTION_CHARS and "muy larga" in q.notices[0]


@pytest.mark.parametrize("text, spanish", [
    ("¿Qué es teacher forcing?", True), ("teacher forcing", True),
    ("What is the difference between greedy and beam search?", False),
    ("Explica la diferencia entre la búsqueda voraz y la búsqueda en haz", True),
])
def test_language_heuristic(text, spanish):
    assert looks_spanish(text) is spanish


def test_non_spanish_question_is_answered_with_a_notice():
    q = guard_question("What does the attention mechanism compute in a transformer?")
    assert q.problem is None and "español" in q.notices[0]


# ---------------------------------------------------------------------------- model directories

def test_directory_without_config_is_an_older_format(tmp_path):
    with pytest.raises(ModelLoadError, match="make models"):
        read_variant_spec("tuned", tmp_path)


def test_newer_assistant_json_format_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "assistant.json").write_text(f'{{"format": {FORMAT + 1}}}')
    with pytest.raises(ModelLoadError, match="formato"):
        read_variant_spec("tuned", tmp_path)


def test_missing_assistant_json_means_chat_defaults(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    info = read_variant_spec("tuned", tmp_path)
    assert (info.prompt_style, info.max_passage_chars, info.num_passages, info.context_length) == ("chat", 600, 5, None)


def test_app_config_comes_from_the_environment_once_and_words_the_commands():
    from pathlib import Path

    from assistant.config import AppConfig

    d = AppConfig.from_env({})
    assert (d.index_dir, d.models_dir, d.docs_dir, d.uploads_dir) == (
        Path("artifacts/index"), Path("artifacts/models"), Path("course"), Path("artifacts/uploads"))
    assert d.include_reference and d.train_command() == "make models"
    c = AppConfig.from_env({"COURSE_INDEX": "/x/idx", "COURSE_DOCS": "mis apuntes", "COURSE_REFERENCE": "0",
                            "COURSE_MODELS": "/m"}, models_dir=Path("/n"), index_dir=None)
    assert c.index_dir == Path("/x/idx") and c.models_dir == Path("/n") and not c.include_reference
    assert c.index_command() == "python -m index build --docs 'mis apuntes' --out /x/idx --uploads artifacts/uploads"
    assert c.train_command() == "make models MODELS=/n"
    assert AppConfig.from_env(c.to_env()) == c, "to_env is from_env's inverse"
