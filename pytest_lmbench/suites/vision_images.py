"""Deterministic generator of the bundled vision suite images.

``SPECS`` lists every image of ``capability_suites/vision/images/``: its file
name, its kind (``shapes`` or ``text``), the drawing parameters and the
canonical answer. The answer is stored in the PNG as a tEXt chunk with key
``lmbench:answer``; the project's fake servers answer from it, which proves the
image really reached the server. The vision suite files use it as (one of)
their references.

Pixels are computed here, not by Pillow's rasterisers or fonts, so the same
specs give the same pixels with any Pillow version: shapes are tested at pixel
centres with integer geometry, and text is drawn with a built-in 5x7 block font
scaled up. Pillow (a dev dependency) only encodes the PNG, so it is imported
inside the functions that need it.

Regenerate the shipped images with ``python -m pytest_lmbench.suites.vision_images``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL import Image

ANSWER_KEY = "lmbench:answer"

RGB = tuple[int, int, int]
Point = tuple[int, int]

COLORS: dict[str, RGB] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (220, 30, 30),
    "blue": (30, 80, 220),
    "green": (30, 150, 60),
    "yellow": (245, 205, 20),
    "orange": (245, 135, 20),
    "purple": (130, 50, 170),
}

ShapeKind = Literal["circle", "square", "triangle", "star"]


@dataclass(frozen=True)
class Shape:
    """A filled shape: ``size`` is the radius (circle, star) or half the width."""

    kind: ShapeKind
    color: str
    center: Point
    size: int


@dataclass(frozen=True)
class ImageSpec:
    """One generated image.

    ``kind`` ``shapes``: params ``background`` (colour name), ``shapes`` (tuple of
    :class:`Shape`). ``kind`` ``text``: params ``text`` (uppercase, ``\\n`` between
    lines), ``color``, ``background`` and optionally ``panel`` (a colour drawn as a
    rectangle behind the text). Both take ``width`` and ``height`` (default 256).
    """

    name: str
    kind: Literal["shapes", "text"]
    params: Mapping[str, Any]
    answer: str

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


# -- the built-in block font ------------------------------------------------------------

GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7

# Each glyph: seven rows of five cells, "#" filled; rows separated by spaces.
_GLYPH_ROWS: dict[str, str] = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .###.",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....",
}

GLYPHS: dict[str, tuple[str, ...]] = {ch: tuple(rows.split()) for ch, rows in _GLYPH_ROWS.items()}


# -- the specs ---------------------------------------------------------------------------

# A 3x3 grid of slot centres for counting images; shapes of size <= 30 never overlap.
_SLOTS: tuple[Point, ...] = tuple((x, y) for y in (48, 128, 208) for x in (48, 128, 208))


def _in_slots(kind: ShapeKind, color: str, slots: Sequence[int], size: int = 28) -> list[Shape]:
    return [Shape(kind, color, _SLOTS[i], size) for i in slots]


def _shapes(background: str, shapes: Sequence[Shape]) -> dict[str, Any]:
    return {"background": background, "shapes": tuple(shapes)}


def _text(text: str, color: str, background: str, panel: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"text": text, "color": color, "background": background}
    if panel is not None:
        params["panel"] = panel
    return {**params, "height": 128}


SPECS: tuple[ImageSpec, ...] = (
    # caption: one large shape, plainly described
    ImageSpec(
        "red_circle",
        "shapes",
        _shapes("white", [Shape("circle", "red", (128, 128), 80)]),
        "a red circle on a white background",
    ),
    ImageSpec(
        "blue_square",
        "shapes",
        _shapes("white", [Shape("square", "blue", (128, 128), 72)]),
        "a blue square on a white background",
    ),
    ImageSpec(
        "green_triangle",
        "shapes",
        _shapes("white", [Shape("triangle", "green", (128, 132), 90)]),
        "a green triangle on a white background",
    ),
    ImageSpec(
        "yellow_star",
        "shapes",
        _shapes("black", [Shape("star", "yellow", (128, 134), 100)]),
        "a yellow star on a black background",
    ),
    # vqa: colour, shape and position questions
    ImageSpec(
        "purple_square",
        "shapes",
        _shapes("white", [Shape("square", "purple", (128, 128), 64)]),
        "purple",
    ),
    ImageSpec(
        "orange_triangle",
        "shapes",
        _shapes("white", [Shape("triangle", "orange", (128, 132), 84)]),
        "triangle",
    ),
    ImageSpec(
        "left_right_circles",
        "shapes",
        _shapes(
            "white",
            [Shape("circle", "red", (64, 128), 44), Shape("circle", "blue", (192, 128), 44)],
        ),
        "red",
    ),
    ImageSpec(
        "large_small_squares",
        "shapes",
        _shapes(
            "white",
            [Shape("square", "green", (90, 140), 60), Shape("square", "orange", (205, 60), 22)],
        ),
        "green",
    ),
    ImageSpec(
        "circle_on_yellow",
        "shapes",
        _shapes("yellow", [Shape("circle", "black", (128, 128), 56)]),
        "yellow",
    ),
    # ocr: short uppercase words in the block font
    ImageSpec("text_hello", "text", _text("HELLO", "black", "white"), "HELLO"),
    ImageSpec("text_stop", "text", _text("STOP", "white", "white", panel="red"), "STOP"),
    ImageSpec("text_quiz", "text", _text("QUIZ", "blue", "yellow"), "QUIZ"),
    ImageSpec("text_room_42", "text", _text("ROOM 42", "black", "white"), "ROOM 42"),
    # counting: N shapes at fixed, non-overlapping grid slots
    ImageSpec(
        "count_squares_3",
        "shapes",
        _shapes("white", _in_slots("square", "blue", (0, 4, 8))),
        "3",
    ),
    ImageSpec(
        "count_squares_5",
        "shapes",
        _shapes("white", _in_slots("square", "blue", (0, 2, 4, 6, 8))),
        "5",
    ),
    ImageSpec(
        "count_squares_7",
        "shapes",
        _shapes("white", _in_slots("square", "blue", (0, 1, 2, 3, 5, 6, 7))),
        "7",
    ),
    ImageSpec(
        "count_circles_2",
        "shapes",
        _shapes("white", _in_slots("circle", "red", (3, 5))),
        "2",
    ),
    ImageSpec(
        "count_triangles_6",
        "shapes",
        _shapes("white", _in_slots("triangle", "green", (0, 1, 2, 6, 7, 8))),
        "6",
    ),
    ImageSpec(
        "count_squares_4_among_circles",
        "shapes",
        _shapes(
            "white",
            _in_slots("square", "blue", (0, 2, 4, 7)) + _in_slots("circle", "red", (1, 5, 6)),
        ),
        "4",
    ),
)

SPECS_BY_FILENAME: dict[str, ImageSpec] = {spec.filename: spec for spec in SPECS}


# -- rasterising -------------------------------------------------------------------------


class _Canvas:
    """An RGB pixel buffer; pixel (x, y) covers [x, x+1) x [y, y+1)."""

    def __init__(self, width: int, height: int, background: RGB) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: RGB) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = 3 * (y * self.width + x)
            self.pixels[at : at + 3] = bytes(color)

    def rect(self, left: int, top: int, right: int, bottom: int, color: RGB) -> None:
        """Fill ``left <= x < right``, ``top <= y < bottom``."""
        for y in range(max(top, 0), min(bottom, self.height)):
            for x in range(max(left, 0), min(right, self.width)):
                self.set(x, y, color)

    def circle(self, center: Point, radius: int, color: RGB) -> None:
        cx, cy = center
        # Pixel centre (x + 1/2, y + 1/2) inside: (2x + 1 - 2cx)^2 + ... <= (2r)^2, in integers.
        for y in range(cy - radius, cy + radius):
            for x in range(cx - radius, cx + radius):
                if (2 * x + 1 - 2 * cx) ** 2 + (2 * y + 1 - 2 * cy) ** 2 <= 4 * radius * radius:
                    self.set(x, y, color)

    def polygon(self, points: Sequence[Point], color: RGB) -> None:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        for y in range(min(ys), max(ys) + 1):
            for x in range(min(xs), max(xs) + 1):
                if _inside(points, 2 * x + 1, 2 * y + 1):
                    self.set(x, y, color)

    def to_bytes(self) -> bytes:
        return bytes(self.pixels)


def _inside(points: Sequence[Point], px2: int, py2: int) -> bool:
    """Even-odd test of the point (px2/2, py2/2), with exact integer arithmetic."""
    inside = False
    n = len(points)
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        y1, y2, x1, x2 = 2 * y1, 2 * y2, 2 * x1, 2 * x2
        if (y1 > py2) == (y2 > py2):
            continue
        # px < x1 + (py - y1) * (x2 - x1) / (y2 - y1), multiplied out by (y2 - y1).
        lhs = (px2 - x1) * (y2 - y1)
        rhs = (py2 - y1) * (x2 - x1)
        if (lhs < rhs) if y2 > y1 else (lhs > rhs):
            inside = not inside
    return inside


# Unit star vertices in thousandths, clockwise from the top: outer radius 1000,
# inner radius 382 (a regular five-pointed star). Integers keep pixels stable.
_STAR_UNIT: tuple[Point, ...] = (
    (0, -1000),
    (225, -309),
    (951, -309),
    (363, 118),
    (588, 809),
    (0, 382),
    (-588, 809),
    (-363, 118),
    (-951, -309),
    (-225, -309),
)


def _draw_shape(canvas: _Canvas, shape: Shape) -> None:
    color = COLORS[shape.color]
    cx, cy = shape.center
    s = shape.size
    if shape.kind == "circle":
        canvas.circle(shape.center, s, color)
    elif shape.kind == "square":
        canvas.rect(cx - s, cy - s, cx + s, cy + s, color)
    elif shape.kind == "triangle":
        # Upright, base as wide as it is tall; the centre is the middle of the height.
        canvas.polygon([(cx, cy - s), (cx + s, cy + s), (cx - s, cy + s)], color)
    elif shape.kind == "star":
        points = [(cx + x * s // 1000, cy + y * s // 1000) for x, y in _STAR_UNIT]
        canvas.polygon(points, color)
    else:  # pragma: no cover - Literal exhausts the kinds
        raise ValueError(f"unknown shape kind {shape.kind!r}")


def _draw_text(canvas: _Canvas, params: Mapping[str, Any]) -> None:
    lines = str(params["text"]).split("\n")
    for line in lines:
        unknown = sorted(set(line) - set(GLYPHS))
        if unknown:
            raise ValueError(f"no glyph for {''.join(unknown)!r} (uppercase A-Z, 0-9, space)")
    longest = max(len(line) for line in lines)
    margin = 16
    # Cells are one glyph column; one blank column between characters, two rows between lines.
    columns = longest * (GLYPH_WIDTH + 1) - 1
    rows = len(lines) * (GLYPH_HEIGHT + 2) - 2
    scale = min(12, (canvas.width - 2 * margin) // columns, (canvas.height - 2 * margin) // rows)
    if scale < 2:
        raise ValueError(f"text {params['text']!r} does not fit a {canvas.width}px image")
    color = COLORS[str(params["color"])]
    panel = params.get("panel")
    top = (canvas.height - rows * scale) // 2
    if panel is not None:
        pad = scale * 2
        left = (canvas.width - columns * scale) // 2
        canvas.rect(
            left - pad,
            top - pad,
            left + columns * scale + pad,
            top + rows * scale + pad,
            COLORS[str(panel)],
        )
    for number, line in enumerate(lines):
        width = (len(line) * (GLYPH_WIDTH + 1) - 1) * scale
        left = (canvas.width - width) // 2
        y0 = top + number * (GLYPH_HEIGHT + 2) * scale
        for index, char in enumerate(line):
            x0 = left + index * (GLYPH_WIDTH + 1) * scale
            for r, row in enumerate(GLYPHS[char]):
                for c, cell in enumerate(row):
                    if cell == "#":
                        x, y = x0 + c * scale, y0 + r * scale
                        canvas.rect(x, y, x + scale, y + scale, color)


def render_pixels(spec: ImageSpec) -> tuple[int, int, bytes]:
    """Width, height and the raw RGB bytes of a spec's image (no Pillow needed)."""
    params = spec.params
    width = int(params.get("width", 256))
    height = int(params.get("height", 256))
    canvas = _Canvas(width, height, COLORS[str(params["background"])])
    if spec.kind == "shapes":
        for shape in params["shapes"]:
            _draw_shape(canvas, shape)
    elif spec.kind == "text":
        _draw_text(canvas, params)
    else:  # pragma: no cover - Literal exhausts the kinds
        raise ValueError(f"unknown image kind {spec.kind!r}")
    return width, height, canvas.to_bytes()


def render(spec: ImageSpec) -> Image.Image:
    """The spec's image as a Pillow RGB image (without the text chunk)."""
    from PIL import Image

    width, height, data = render_pixels(spec)
    return Image.frombytes("RGB", (width, height), data)


def write_png(spec: ImageSpec, folder: Path) -> Path:
    """Write ``<folder>/<name>.png`` with the ``lmbench:answer`` tEXt chunk; byte-stable."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(ANSWER_KEY, spec.answer)
    path = folder / spec.filename
    # No pnginfo timestamps (tIME) or dpi; optimize=False keeps the encoding fixed.
    render(spec).save(path, format="PNG", pnginfo=info, optimize=False, compress_level=9)
    return path


def default_folder() -> Path:
    import capability_suites

    return Path(capability_suites.__file__).resolve().parent / "vision" / "images"


def write_all(folder: Path, specs: Sequence[ImageSpec] = SPECS) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        yield write_png(spec, folder)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the images (into ``argv[0]`` if given, else the bundled folder)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print("usage: python -m pytest_lmbench.suites.vision_images [OUTPUT_DIR]")
        return 0
    folder = Path(args[0]) if args else default_folder()
    for path in write_all(folder):
        spec = SPECS_BY_FILENAME[path.name]
        print(f"wrote {path} ({spec.kind}, answer {spec.answer!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
