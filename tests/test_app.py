"""The Streamlit app, headless (streamlit.testing.v1.AppTest), on tiny random checkpoints."""

import shutil

import pytest
from conftest import COURSE, ROOT

from assistant.registry import shared_registry

pytestmark = pytest.mark.slow
QUESTION = "¿Qué es teacher forcing?"


@pytest.fixture
def app(monkeypatch, tmp_path, course_index_dir, tiny_models):
    """An AppTest factory: app(index=..., models=...) with short answers and no reference model."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COURSE_REFERENCE", "0")
    monkeypatch.setenv("COURSE_DOCS", str(tmp_path / "docs"))
    monkeypatch.setenv("COURSE_UPLOADS", str(tmp_path / "uploads"))

    def make(index=course_index_dir, models=tiny_models):
        monkeypatch.setenv("COURSE_INDEX", str(index))
        monkeypatch.setenv("COURSE_MODELS", str(models))
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
        at.sidebar.slider(key="max_new_tokens").set_value(16).run()
        return at

    return make


def open_tab(at, label: str):
    at.session_state["vista"] = label
    return at.run()


def compare(at, question: str = QUESTION):
    open_tab(at, "Comparar")
    at.text_input(key="compare_question").input(question)
    return at.button[0].click().run()


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_chat_streams_an_answer_with_sources_and_stats(app):
    at = app()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("tokens/s" in c for c in captions(at))
    assert at.expander and at.expander[0].label.startswith("[1] ")
    at.chat_input[0].set_value("¿Qué es la búsqueda en haz?").run()
    assert len(at.chat_message) == 4  # history kept: two questions, two answers
    assert at.chat_message[0].markdown[0].value == QUESTION


def test_chat_can_answer_without_a_model(app):
    at = app()
    assert any(o.startswith("Extractiva") for o in at.sidebar.selectbox(key="variant").options)
    at.sidebar.selectbox(key="variant").set_value("extractivo").run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any(c.startswith("Sin modelo: respuesta extractiva") for c in captions(at)), "the answer names its source"
    assert not any("tokens/s" in c for c in captions(at))
    assert at.expander and at.expander[0].label.startswith("[1] ")


def test_compare_puts_every_variant_side_by_side(app):
    at = compare(app())
    assert not at.exception
    assert [s.value for s in at.main.subheader][:3] == ["base (preentrenamiento continuo)", "tuned (LoRA)",
                                                         "distilled (destilado)"]
    assert sum("tokens/s" in c for c in captions(at)) == 3
    assert any(c.startswith("Fuentes: [1]") for c in captions(at))


def test_failing_column_shows_an_error_while_the_others_finish(app, tiny_models, monkeypatch):
    registry = shared_registry(tiny_models, False)
    real_get = registry.get

    def broken(name):
        if name == "tuned":
            raise RuntimeError("sin memoria")
        return real_get(name)

    at = app()
    monkeypatch.setattr(registry, "get", broken)
    at = compare(at)
    assert not at.exception
    assert any("sin memoria" in e.value for e in at.error)
    assert sum("tokens/s" in c for c in captions(at)) == 2


def sidebar_keys(at) -> set:
    return {w.key for w in at.sidebar.slider} | {w.key for w in at.sidebar.number_input}


def test_decoding_controls_follow_the_strategy(app):
    at = app()
    assert not {"temperature", "num_beams", "seed"} & sidebar_keys(at), "greedy shows no sampling or beam knobs"
    assert any("no tiene más parámetros" in c.value for c in at.sidebar.caption)
    at.sidebar.radio(key="strategy").set_value("sampling").run()
    at.sidebar.slider(key="temperature").set_value(0.5).run()
    assert {"temperature", "top_k", "top_p", "seed"} <= sidebar_keys(at) and "num_beams" not in sidebar_keys(at)
    at.sidebar.radio(key="strategy").set_value("beam").run()
    assert "num_beams" in sidebar_keys(at) and "temperature" not in sidebar_keys(at)
    at.sidebar.radio(key="strategy").set_value("sampling").run()
    assert at.sidebar.slider(key="temperature").value == 0.5, "a hidden control keeps its value"
    at.sidebar.toggle(key="cot").set_value(True).run()
    at.sidebar.selectbox(key="variant").set_value("distilled").run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("tokens/s" in c for c in captions(at))
    assert any(c.startswith("Modelo: ") and "distil" in c.lower() for c in captions(at)), "the answer names its model"
    assert any("El modelo recibió" in c and "caracteres" in c for c in captions(at))


def test_next_token_view_shows_probabilities_of_an_answer(app):
    at = app()
    at.sidebar.radio(key="strategy").set_value("sampling").run()
    at.chat_input[0].set_value(QUESTION).run()
    at = open_tab(at, "Siguiente token")
    assert not at.exception
    assert "hsl(" in at.get("html")[0].proto.body
    assert at.get("vega_lite_chart")
    at.slider(key="nt_pos").set_value(3).run()
    assert "posición 3" in at.main.markdown[-1].value


def test_next_token_distribution_shows_the_rest_and_names_special_tokens():
    from app.next_token import distribution
    from assistant.generation import TokenStep

    table = distribution(TokenStep("<|im_end|>", 0.5, [("<|im_end|>", 0.5), (" la", 0.2)]))
    assert table["token"].tolist() == ["1. ⟨fin de turno⟩", "2. ·la", "resto del vocabulario"]
    assert table["probabilidad"].tolist() == pytest.approx([0.5, 0.2, 0.3])
    assert table["tipo"].tolist() == ["elegido", "alternativa", "resto"]


def test_without_models_the_app_answers_from_the_passages(app, tmp_path):
    at = app(models=tmp_path / "no-models")
    assert not at.exception
    assert any("make models" in i.value for i in at.info)
    at.chat_input[0].set_value(QUESTION).run()
    assert any("respuesta extractiva" in c for c in captions(at))
    assert at.expander  # the passages, as sources


def test_missing_index_says_how_to_build_it_and_keeps_working(app, tmp_path):
    at = app(index=tmp_path / "none")
    assert not at.exception
    command = f"python -m index build --docs {tmp_path / 'docs'} --out {tmp_path / 'none'} --uploads"
    assert any(command in i.value for i in at.info), "the command names the folders in use"
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception and any("tokens/s" in c for c in captions(at))


def test_empty_question_in_compare_gets_a_message(app):
    at = compare(app(), "   ")
    assert not at.exception and "Escribe una pregunta" in at.warning[0].value


def test_documents_lists_the_index_and_takes_uploads(app, tmp_path, course_index_dir):
    index = tmp_path / "index"
    shutil.copytree(course_index_dir, index)
    shutil.copytree(COURSE, tmp_path / "docs")
    at = open_tab(app(index=index), "Documentos")
    assert not at.exception
    header = at.main.markdown[0].value
    assert "archivos" in header and at.dataframe
    note = "# Nuevo\n\nTexto sobre atención.".encode()
    at.get("file_uploader")[0].upload("../Mi apunte ñ.md", note)
    at.run()
    at.button(key="save_uploads").click().run()
    uploads = tmp_path / "uploads"
    assert (uploads / "Mi-apunte-n.md").is_file(), "uploads stay out of the course folder"
    assert not (tmp_path / "docs" / "subidos").exists()
    assert any("Guardado" in s.value for s in at.success)
    at.button(key="save_uploads").click().run()  # the same file again: no second copy
    assert sorted(p.name for p in uploads.iterdir()) == ["Mi-apunte-n.md"]
    assert any("ya estaba" in s.value for s in at.success)
    at.button(key="reindex").click().run()
    assert any("1 procesados" in s.value for s in at.success)
    assert at.main.markdown[0].value != header, "the header follows the new index"
    assert "subidos/Mi-apunte-n.md" in at.dataframe[0].value["archivo"].tolist()
    hint = f"--docs {tmp_path / 'docs'} --out {index} --uploads {uploads}"
    assert any(hint in c.value for c in at.caption), "the hint names the folders in use"
    at.button(key="borrar-Mi-apunte-n.md").click().run()
    assert not (uploads / "Mi-apunte-n.md").exists()
    assert any("Borrado" in s.value for s in at.success)


def test_uploads_refused_and_skipped_files_are_explained_in_spanish(tmp_path):
    from assistant.documents import UploadError, save_upload, spanish_reason

    with pytest.raises(UploadError, match="tipo no admitido"):
        save_upload(tmp_path, "virus.exe", b"MZ")
    assert spanish_reason("corrupt PDF: Stream has ended unexpectedly") == "PDF dañado (Stream has ended unexpectedly)"
    assert spanish_reason("password-protected PDF: cannot read without the password").startswith("PDF protegido")


def test_models_view_shows_curves_report_and_cards(app):
    at = open_tab(app(), "Modelos")
    assert not at.exception
    assert len(at.get("vega_lite_chart")) >= 3
    answers, training = at.dataframe[0].value, at.dataframe[1].value
    assert {"correctas", "F1", "claves presentes"} <= set(answers.columns) and "per_question" not in answers.columns
    assert answers.loc["tuned", "correctas"] == 1.0 and "extractivo" in answers.index
    assert {"perplejidad", "copia", "parámetros"} <= set(training.columns) and "correctas" not in training.columns
    assert not answers.isna().all(axis=None) and "None" not in answers.to_string()
    margin = next(m.value for m in at.markdown if "tuned − base" in m.value)
    assert "respuestas correctas: +66.7%" in margin
    assert any("abre con **tuned**" in c.value for c in at.caption)
    assert any("perplejidad de las respuestas de validación" in c.value for c in at.caption), \
        "the validation curves say what they measure, apart from the table's perplexity"
    cards = {e.label: e for e in at.expander if e.label.startswith("Ficha del modelo")}
    assert set(cards) == {"Ficha del modelo base", "Ficha del modelo tuned", "Ficha del modelo distilled"}
    tuned = " ".join(m.value for m in cards["Ficha del modelo tuned"].markdown)
    assert "perplejidad de las respuestas de validación | 80.5" in tuned and "parámetros" in tuned
    assert "SmolLM2-135M-Instruct" in tuned and "held-out" not in tuned
    assert any("en inglés" in c.value for c in cards["Ficha del modelo distilled"].caption)


def test_broken_math_from_a_model_is_plain_text_and_good_math_stays():
    from app.render import model_text

    assert model_text("La perplejidad es $\\exp(H)$ [1].") == "La perplejidad es $\\exp(H)$ [1]."
    assert model_text("Según [1]: $\\frac{a}{b$ y cuesta 5 $") == "Según [1]: \\$\\frac{a}{b\\$ y cuesta 5 \\$"
    assert model_text("cortada en $$x^{2") == "cortada en \\$\\$x^{2"


def test_model_markdown_headings_cannot_take_over_the_page():
    from app.render import model_text

    shown = model_text("Según [1]: bien.\n## Título inventado\n---\n> cita\nun # en medio")
    assert "\n\\## Título inventado\n\\---\n\\> cita\nun # en medio" in shown
