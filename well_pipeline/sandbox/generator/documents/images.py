"""JPEG and PNG "scans" of an invoice, for the ~8% of attachments that are photos or scanner output.

Rendered with Pillow's built-in bitmap font (`ImageFont.load_default_imagefont()`: no font file to ship,
and ~7x faster than the FreeType default, which matters for 8,000 images) in greyscale at 600 pixels wide and
about 400 high. The result is small (~1 ms, 5-30 kB) but a real image that opens, shows the same
`Label: value` lines as the PDF, and goes through the same size/type checks as a customer's phone photo.
The bitmap font is ASCII-only, so text is folded to ASCII ("Société" prints "Societe"), like a cheap
receipt printer. Seeded speckles and an off-white page make every scan's bytes distinct.
"""

from __future__ import annotations

import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from ..translit import to_ascii
from .spec import DocumentSpec

WIDTH = 600
MIN_HEIGHT = 400
_LINE = 15
_MARGIN = 16


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default_imagefont()


def render_image(spec: DocumentSpec, fmt: str) -> bytes:
    """Render `spec` as `fmt` ("jpg" or "png") bytes."""
    lines = spec.text_lines()
    height = max(MIN_HEIGHT, 2 * _MARGIN + _LINE * (len(lines) + 1))
    rng = random.Random(spec.render_seed)
    image = Image.new("L", (WIDTH, height), rng.randint(238, 252))
    draw = ImageDraw.Draw(image)
    font = _font()
    x = _MARGIN + rng.randint(0, 12)
    y = _MARGIN
    draw.text((x, y), to_ascii(lines[0]), fill=0, font=font)
    draw.text((x + 1, y), to_ascii(lines[0]), fill=0, font=font)  # poor man's bold title
    y += _LINE + 6
    for text in lines[1:]:
        draw.text((x, y), to_ascii(text), fill=rng.randint(10, 50), font=font)
        y += _LINE
    for _ in range(40):
        draw.point((rng.randrange(WIDTH), rng.randrange(height)), fill=rng.randint(90, 200))
    buffer = io.BytesIO()
    if fmt == "jpg":
        image.save(buffer, "JPEG", quality=rng.randint(70, 85))
    elif fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    else:
        raise ValueError(f"unsupported image format {fmt!r}")
    return buffer.getvalue()
