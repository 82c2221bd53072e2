"""Builders for real files of every format (made with the same libraries users' tools use)."""

from pathlib import Path


def make_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(path))
        writer.encrypt(user_password=password, owner_password=password, algorithm="AES-128")
        with open(path, "wb") as f:
            writer.write(f)
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("Decodificación", level=1)
    d.add_paragraph("La búsqueda en haz conserva las k hipótesis más probables en cada paso.")
    d.add_heading("Muestreo", level=2)
    d.add_paragraph("La temperatura aplana o afila la distribución.", style="List Bullet")
    d.save(str(path))
    return path


def make_pptx(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Atención", "Cada token mira a todos los demás."),
                        ("Transformer", "Capas de autoatención y redes feed-forward.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))
    return path
