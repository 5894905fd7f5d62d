"""Invoice documents (the attachments): one content model, rendered as PDF, JPEG/PNG scans or odd files."""

from .images import render_image
from .odd import render_heic_like, render_text
from .pdf import build_pdf, extract_text_lines, render_pdf
from .spec import DocumentSpec, Line

__all__ = [
    "DocumentSpec",
    "Line",
    "build_pdf",
    "extract_text_lines",
    "render_heic_like",
    "render_image",
    "render_pdf",
    "render_text",
]
