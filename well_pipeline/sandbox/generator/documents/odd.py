"""Attachments Melio's inbox would refuse: a fake HEIC photo and a plain-text file.

Customers forward iPhone photos (HEIC) and the odd `.txt`; Melio accepts only PDF/JPEG/PNG/GIF, so the
pipeline must notice and hold them. These bytes only need the right shape (an ISO-BMFF `ftyp heic` box, or
UTF-8 text), not to be decodable images.
"""

from __future__ import annotations

import random

from .spec import DocumentSpec


def render_heic_like(spec: DocumentSpec) -> bytes:
    """An ISO-BMFF header declaring HEIC followed by seeded noise (not a decodable image, on purpose)."""
    rng = random.Random(spec.render_seed)
    header = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    return header + rng.randbytes(3000 + rng.randrange(2000))


def render_text(spec: DocumentSpec) -> bytes:
    """The invoice text as a UTF-8 `.txt` file (what some e-mail gateways save instead of the PDF)."""
    return ("\n".join(spec.text_lines()) + "\n").encode("utf-8")
