"""Documents made by the libraries that write each format, for the parser tests."""

from __future__ import annotations

from pathlib import Path

import docx
import openpyxl
import pptx
from fpdf import FPDF
from pptx.util import Inches


def pdf(path: Path, pages: list[str | None], *, password: str | None = None) -> Path:
    """A PDF with one page per entry: its text, or None for a page with only an image."""
    document = FPDF()
    document.set_font("helvetica", size=11)
    document.set_title("Sample PDF")
    for text in pages:
        document.add_page()
        if text is None:
            document.image(_png(path.parent), x=20, y=20, w=80)
        else:
            document.multi_cell(0, 5, text)
    if password is not None:
        document.set_encryption(owner_password="owner", user_password=password)
    document.output(str(path))
    return path


def _png(folder: Path) -> Path:
    """A small picture of a word (no text layer), drawn by Pillow."""
    from PIL import Image, ImageDraw

    target = folder / "picture.png"
    if not target.exists():
        image = Image.new("RGB", (400, 120), "white")
        ImageDraw.Draw(image).text((20, 40), "SCANNED INVOICE 42", fill="black")
        image.save(target)
    return target


def docx_file(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "Handbook"
    document.add_paragraph("Preface before any heading.")
    document.add_heading("Install", level=1)
    document.add_paragraph("Download the installer.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Run the shell script as root.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "distro"
    table.cell(0, 1).text = "package"
    table.cell(1, 0).text = "Debian"
    table.cell(1, 1).text = "jobdeck.deb"
    document.add_heading("Usage", level=1)
    document.add_paragraph("Start the server with jobdeck up.")
    document.save(str(path))
    return path


def pptx_file(path: Path) -> Path:
    presentation = pptx.Presentation()
    for title, body in [("Roadmap", "Ship collections in March."), ("Risks", "Scanned PDFs.")]:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    slide = presentation.slides.add_slide(presentation.slide_layouts[6])  # blank
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    box.text_frame.text = "A free text box"
    slide.notes_slide.notes_text_frame.text = "Speaker notes here"
    presentation.save(str(path))
    return path


def xlsx_file(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Prices"
    sheet.append(["item", "price"])
    sheet.append(["apple", 1.5])
    sheet.append([None, None])
    sheet.append(["pear", 2])
    other = workbook.create_sheet("Notes")
    other.append(["Prices include VAT."])
    workbook.save(path)
    return path
