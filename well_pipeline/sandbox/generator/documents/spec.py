"""What an invoice document says, independent of how it is rendered.

The same `DocumentSpec` feeds the PDF writer, the image renderer and the odd-file writers, so a PDF and a
scan of the same invoice carry the same text. The text uses fixed `Label: value` lines ("Supplier: NAME",
"Invoice number: X", "Due date: YYYY-MM-DD", "Total: 1234.56 EUR") because the Melio capture sandbox reads
them back with regular expressions; keep those labels stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Line(NamedTuple):
    """One line of document text. `style` is heading | text | bold | item | small | gap.

    A NamedTuple rather than a dataclass: ~25 are built per invoice, 2.5 million per large dataset.
    """

    style: str
    text: str = ""
    cells: tuple[str, ...] = ()  # for style == "item": description, quantity, unit price, amount


@dataclass(frozen=True)
class DocumentSpec:
    """The printed content of one attachment. `render_seed` drives cosmetic noise only (scan speckles)."""

    title: str
    lines: tuple[Line, ...]
    producer_date: str  # YYYYMMDD, for the PDF /CreationDate (the issue date, so output is deterministic)
    render_seed: int

    def text_lines(self) -> list[str]:
        """Plain text of the document, one entry per line (items flattened)."""
        out: list[str] = [self.title]
        for line in self.lines:
            if line.style == "gap":
                continue
            if line.style == "item":
                out.append("  ".join(line.cells))  # same form as pdf.extract_text_lines gives
            else:
                out.append(line.text)
        return out
