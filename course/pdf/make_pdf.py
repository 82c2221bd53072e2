"""Genera course/pdf/apunte-destilacion-y-rag.pdf (3 páginas, un tema por página).

Uso:  python course/pdf/make_pdf.py

El texto se mantiene aquí para poder regenerar el PDF. La fuente base Helvetica
solo admite Latin-1, así que el texto evita comillas tipográficas, rayas largas y
letras griegas.
"""

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent / "apunte-destilacion-y-rag.pdf"

TITULO = "Apunte complementario: destilación y RAG"

PAGINAS = [
    (
        "1. Destilación de conocimiento en la práctica",
        [
            "Este apunte repasa cómo se aplica la destilación a modelos de lenguaje reales. La idea básica es entrenar un estudiante pequeño para que reproduzca las salidas de un profesor grande, usando como objetivo la distribución completa del profesor y no solo la etiqueta correcta.",
            "Un ejemplo conocido es DistilBERT, que reduce BERT-base de 12 a 6 capas. Conserva en torno al 97 % del rendimiento del original en el banco de pruebas GLUE, con un 40 % menos de parámetros y una inferencia aproximadamente un 60 % más rápida. Su pérdida combina tres términos: la destilación sobre las salidas del modelo enmascarado, la pérdida MLM ordinaria y una pérdida coseno que alinea los estados ocultos del estudiante con los del profesor. El estudiante se inicializa tomando una de cada dos capas del profesor.",
            "En la pérdida clásica de Hinton hay dos hiperparámetros. La temperatura T suaviza ambas distribuciones; con T = 1 apenas se aprovecha el conocimiento oscuro del profesor, y con valores entre 2 y 10 las clases secundarias ganan peso. El coeficiente alfa reparte la pérdida entre el término de destilación y la entropía cruzada con las etiquetas reales. El término de destilación se multiplica por T al cuadrado para que su gradiente no se haga más pequeño al subir la temperatura.",
            "En generación de texto, la versión más sencilla es la destilación a nivel de secuencia: el profesor genera salidas para un conjunto de entradas y el estudiante se entrena con ellas mediante entropía cruzada ordinaria, como si fueran referencias humanas. No hace falta acceder a los logits del profesor, por lo que sirve incluso con modelos disponibles solo a través de una API.",
            "Consejos prácticos: el estudiante no debe ser demasiado pequeño respecto al profesor, porque si la diferencia de capacidad es enorme imita mal; en ese caso ayuda un profesor intermedio, que actúa como asistente. Conviene además destilar con datos del mismo dominio que los de uso final.",
        ],
    ),
    (
        "2. RAG: indexación y recuperación",
        [
            "Un sistema de generación aumentada con recuperación tiene dos mitades: un recuperador que busca información y un generador que redacta la respuesta. Esta página trata la primera mitad, que en la práctica es la que más influye en la calidad final.",
            "El primer paso es preparar los documentos. Hay que extraer el texto de formatos heterogéneos (PDF, HTML, Markdown, diapositivas), limpiar menús, pies de página y otros elementos repetidos, y dividir el resultado en fragmentos. Una estrategia razonable es cortar respetando la estructura: secciones, párrafos y frases, en lugar de cortar cada N caracteres a ciegas. Conservar el título de la sección en cada fragmento ayuda a que el recuperador y el generador sepan de qué trata.",
            "Para la recuperación léxica se usa BM25. Su puntuación suma, para cada término de la consulta, el IDF del término multiplicado por una función saturada de su frecuencia en el fragmento. La saturación hace que la décima aparición de una palabra aporte mucho menos que la primera, y la normalización por longitud evita que los fragmentos largos ganen solo por tener más palabras.",
            "Para la recuperación densa, un modelo codificador transforma la consulta y cada fragmento en un vector, y la relevancia se mide con la similitud coseno. Estos codificadores se entrenan con pares pregunta-pasaje y negativos, de forma contrastiva, para acercar cada pregunta a su pasaje y alejarla de los demás. Un detalle importante es que el modelo de embeddings debe conocer el idioma: un codificador entrenado solo en inglés rinde mal con apuntes en castellano.",
            "Ambos enfoques fallan de manera distinta: BM25 no reconoce paráfrasis y la búsqueda densa puede pasar por alto un término técnico exacto o una sigla. Por eso se combinan en una búsqueda híbrida y, si el presupuesto lo permite, se añade un reordenador que examina la consulta y cada candidato conjuntamente.",
        ],
    ),
    (
        "3. RAG: generación, alucinaciones y evaluación",
        [
            "Una vez recuperados los fragmentos, se construye el prompt del generador. Lo habitual es incluir una instrucción de sistema, los fragmentos numerados con su procedencia y, al final, la pregunta del usuario. Numerar los fragmentos permite pedir al modelo que cite entre corchetes el fragmento en que se apoya cada afirmación, y así el lector puede comprobarla.",
            "Las alucinaciones no desaparecen con RAG, pero cambian de naturaleza. El modelo puede mezclar información de dos fragmentos que hablan de cosas distintas, completar con conocimiento propio lo que falta en el contexto o atribuir a un fragmento algo que no dice. Una instrucción explícita del tipo «si la respuesta no está en los fragmentos, dilo» reduce estos fallos, aunque no los elimina.",
            "También influye la posición: varios estudios observaron que los modelos aprovechan mejor la información situada al principio o al final de un contexto largo que la situada en medio. Por ello conviene recuperar pocos fragmentos buenos en lugar de muchos mediocres, y colocar los más relevantes en los extremos.",
            "La evaluación debe separar las dos mitades del sistema. Para el recuperador se prepara un conjunto de preguntas con la evidencia que las responde y se mide qué proporción de preguntas tiene su evidencia entre los k primeros resultados. Para el generador se valora si la respuesta es correcta, si es fiel a los fragmentos y si cita bien. La fidelidad se puede juzgar por personas o con otro modelo de lenguaje como evaluador, siempre revisando una muestra a mano.",
            "Por último, RAG y ajuste fino no son excluyentes. El ajuste fino cambia el estilo y la forma de responder del modelo; RAG le da acceso a información actualizada y verificable. En un asistente para una asignatura, lo razonable es empezar por RAG, porque los apuntes cambian cada curso y reentrenar el modelo cada vez sería caro.",
        ],
    ),
]


def build(out_path: Path = OUT) -> Path:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(TITULO)
    pdf.set_author("Equipo docente RNAGT")
    # Fixed date: regenerating the PDF from the same text gives the same bytes (and the same hash
    # in the index manifest, so nothing is re-embedded).
    pdf.set_creation_date(datetime(2026, 3, 1, tzinfo=UTC))
    for heading, paragraphs in PAGINAS:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 11)
        for par in paragraphs:
            par.encode("latin-1")  # la fuente base solo admite Latin-1
            pdf.multi_cell(0, 5.5, par, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(out_path))
    return out_path


if __name__ == "__main__":
    print(build())
