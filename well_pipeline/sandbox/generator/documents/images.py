"""JPEG and PNG "scans" of an invoice, for the ~8% of attachments that are photos or scanner output.

Rendered with Pillow's default font (no font files to ship) in greyscale at about 600x400 pixels: small and
fast (~3 ms each) but still a real image that opens, shows the same `Label: value` lines as the PDF, and goes
through the same size/type checks as a customer's phone photo. A sprinkle of seeded speckles and a slightly
off-white page make byte-identical images across invoices impossible without making them slow.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from ..translit import to_winansi
from .spec import DocumentSpec

WIDTH = 600
MIN_HEIGHT = 400
_LINE = 20
_MARGIN = 18


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def render_image(spec: DocumentSpec, fmt: str) -> bytes:
    """Render `spec` as `fmt` ("jpg" or "png") bytes."""
    lines = spec.text_lines()
    height = max(MIN_HEIGHT, 2 * _MARGIN + _LINE * (len(lines) + 1))
    rng = random.Random(spec.render_seed)
    paper = rng.randint(240, 252)
    image = Image.new("L", (WIDTH, height), paper)
    draw = ImageDraw.Draw(image)
    y = _MARGIN
    draw.text((_MARGIN, y), to_winansi(lines[0]), fill=15, font=_font(18))
    y += _LINE + 8
    body = _font(13)
    for text in lines[1:]:
        draw.text((_MARGIN, y), to_winansi(text), fill=rng.randint(10, 40), font=body)
        y += _LINE
    for _ in range(40):
        x, yy = rng.randrange(WIDTH), rng.randrange(height)
        draw.point((x, yy), fill=rng.randint(90, 200))
    buffer = io.BytesIO()
    if fmt == "jpg":
        image.save(buffer, "JPEG", quality=rng.randint(70, 85))
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    else:
        raise ValueError(f"unsupported image format {fmt!r}")
    return buffer.getvalue()
