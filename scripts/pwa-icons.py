"""Draw the web UI's PNG icons (the installed app's icons) from the mark in
selfdrive/web/static/icon.svg: a white folder with an upward arrow on the
blue of the theme.  Run once when the mark changes; the PNGs are committed.

    python scripts/pwa-icons.py

icon-192.png and icon-512.png have the rounded tile of icon.svg ("any");
icon-maskable-512.png fills the square with the blue and keeps the mark in
the middle 60% (the safe zone of a maskable icon is a circle of 80%), so a
launcher may cut it to any shape; apple-touch-icon.png (180 px) is square
too, as iOS rounds its corners itself.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parent.parent / "selfdrive" / "web" / "static"
BLUE = (0x1F, 0x6F, 0xEB, 255)
WHITE = (255, 255, 255, 255)
SUPER = 4  # draw at 4x and scale down: smooth edges without an SVG renderer


def mark(draw: ImageDraw.ImageDraw, off: float, scale: float) -> None:
    """The folder and arrow of icon.svg (a 64-unit grid) at *scale* px per unit."""
    def p(x: float, y: float) -> tuple[float, float]:
        return off + x * scale, off + y * scale

    r = 4 * scale
    # folder tab, then body: M14 24 a4 4 .. h10 l4 4 h14 .. v16 .. H18 .. z
    draw.rounded_rectangle([*p(14, 20), *p(28, 30)], radius=r, fill=WHITE)
    draw.polygon([p(27, 20), p(28, 20), p(32, 24), p(27, 24)], fill=WHITE)
    draw.rounded_rectangle([*p(14, 22), *p(50, 48)], radius=r, fill=WHITE)
    width = max(1, round(3 * scale))
    draw.line([p(32, 42), p(32, 30)], fill=BLUE, width=width)
    draw.line([p(27, 35), p(32, 30), p(37, 35)], fill=BLUE, width=width, joint="curve")
    for x, y in (p(32, 42), p(27, 35), p(37, 35), p(32, 30)):  # round caps
        draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=BLUE)


def icon(size: int, *, maskable: bool) -> Image.Image:
    big = size * SUPER
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if maskable:
        draw.rectangle([0, 0, big, big], fill=BLUE)
        scale = big * 0.6 / 36  # the mark spans x 14..50 (36 units): 60% of the tile
        mark(draw, big / 2 - 32 * scale, scale)  # x 14..50 about 32; y 20..48 near it
    else:
        scale = big / 64
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=14 * scale, fill=BLUE)
        mark(draw, 0, scale)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    icon(192, maskable=False).save(STATIC / "icon-192.png", optimize=True)
    icon(512, maskable=False).save(STATIC / "icon-512.png", optimize=True)
    icon(512, maskable=True).save(STATIC / "icon-maskable-512.png", optimize=True)
    icon(180, maskable=True).convert("RGB").save(STATIC / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
