"""Synthesised ``uber_eats`` photos: Uber Eats logos on bags, boxes and plain backgrounds.

There are no real Uber Eats photos to train on, only four logo files. Real
photos of the class show a courier carrying a delivery bag, a bag or box on its
own, or the logo on a plain background, so we compose those three scenes from
the logos and ordinary photos, plus (version 2) the insulated cube backpack
couriers carry, over a photo or on the rack of a drawn bicycle. What is varied (bag colour and shape, logo
colouring, size, rotation, perspective, blur, JPEG quality) is what a
classifier should learn to ignore; what stays constant is the logo on a
bag-coloured surface, which is what it should learn to see.

Every image is drawn from its own random generator seeded by ``(seed, index)``,
so image *i* is identical whichever subset is generated and in whatever order.
Only NumPy and Pillow are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ml.preprocessing import open_image
from ml.synth_drawing import jitter, paste, perspective, photo_finish, pick, shade, side_shading

# Delivery-bag surfaces seen in real Uber Eats photos, as RGB anchors to jitter.
BAG_COLOURS = {
    "green": [(6, 193, 103), (62, 176, 60), (94, 190, 70), (20, 150, 80)],
    "kraft": [(196, 160, 112), (176, 136, 92), (212, 180, 134), (160, 120, 80)],
    "black": [(22, 22, 22), (38, 38, 40), (52, 52, 56)],
}
UBER_DARK = (20, 30, 40)
EATS_GREEN = (6, 193, 103)
WHITE = (250, 250, 250)

# How each bag colour prints the wordmark: colour of "Uber", colour of "Eats".
LOGO_INK = {
    "green": [(WHITE, WHITE), (UBER_DARK, WHITE)],
    "kraft": [(UBER_DARK, EATS_GREEN), (UBER_DARK, UBER_DARK)],
    "black": [(WHITE, EATS_GREEN), (WHITE, WHITE)],
    "plain": [(UBER_DARK, EATS_GREEN), (UBER_DARK, (62, 176, 60))],
}

# Scene kinds and how often each is drawn. Version 2 added the insulated cube backpack couriers
# carry, on its own over a photo and strapped behind a bicycle, the two commonest Uber Eats street scenes.
SCENES = (
    ("bag_on_photo", 0.3), ("backpack_on_photo", 0.2), ("bike_delivery", 0.15),
    ("bag_on_plain", 0.13), ("logo_on_plain", 0.12), ("sign_on_photo", 0.1),
)
#: Bumped whenever the images drawn for a (seed, index) change, so cached datasets are rebuilt.
VERSION = 2

_LOGO_WORKING_WIDTH = 600  # logos ship at up to 3500 px; nothing drawn here needs more


@dataclass(frozen=True)
class Logo:
    """A logo cut to its visible extent, with its two inks separated.

    ``badge`` logos are opaque (the logo already sits on its own black square)
    and are pasted as they are; wordmarks are re-inked to suit the surface.
    """

    image: Image.Image  # RGBA
    eats_mask: np.ndarray  # True where the ink is the green "Eats"
    badge: bool


def load_logos(directory: str | Path) -> list[Logo]:
    """Read every PNG logo in ``directory`` (sorted by name, for determinism)."""
    paths = sorted(Path(directory).glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"No PNG logos in {directory}.")
    return [_prepare_logo(Image.open(path)) for path in paths]


def _prepare_logo(image: Image.Image) -> Logo:
    rgba = image.convert("RGBA")
    rgba = rgba.crop(rgba.getchannel("A").getbbox() or (0, 0, *rgba.size))
    if rgba.width > _LOGO_WORKING_WIDTH:
        height = max(1, round(rgba.height * _LOGO_WORKING_WIDTH / rgba.width))
        rgba = rgba.resize((_LOGO_WORKING_WIDTH, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(rgba).astype(np.int16)
    red, green, blue, alpha = (pixels[..., i] for i in range(4))
    eats = (green > red + 40) & (green > blue + 20)
    badge = float((alpha > 128).mean()) > 0.9
    return Logo(image=rgba, eats_mask=eats, badge=badge)


def inked(logo: Logo, uber_ink: tuple, eats_ink: tuple) -> Image.Image:
    """The logo re-coloured with two inks, keeping its alpha (and anti-aliasing)."""
    if logo.badge:
        return logo.image
    alpha = np.asarray(logo.image.getchannel("A"))
    rgb = np.where(logo.eats_mask[..., None], np.array(eats_ink), np.array(uber_ink)).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")


def synthesise(
    logos: Sequence[Logo], backgrounds: Sequence[str | Path], count: int, seed: int, start: int = 0,
    scenes: Sequence[tuple[str, float]] = SCENES,
) -> Iterator[Image.Image]:
    """Yield ``count`` RGB uber_eats images, numbered from ``start``."""
    if not backgrounds:
        raise ValueError("synthesise needs at least one background photo.")
    for index in range(start, start + count):
        yield synthesise_one(logos, backgrounds, seed, index, scenes)


def synthesise_one(
    logos: Sequence[Logo], backgrounds: Sequence[str | Path], seed: int, index: int,
    scenes: Sequence[tuple[str, float]] = SCENES,
) -> Image.Image:
    rng = np.random.default_rng([seed, index])
    names, weights = zip(*scenes)
    scene = names[rng.choice(len(names), p=np.array(weights) / sum(weights))]
    if scene == "backpack_on_photo":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, _cube_backpack(rng, logos), rng, scale=(0.3, 0.75))
    elif scene == "bike_delivery":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, _bike_with_backpack(rng, logos), rng, scale=(0.55, 0.95))
    elif scene == "bag_on_photo":
        canvas = _background_photo(rng, backgrounds)
        for _ in range(1 if rng.random() < 0.8 else 2):
            paste(canvas, _bag(rng, logos), rng, scale=(0.3, 0.7))
    elif scene == "bag_on_plain":
        canvas = _plain_background(rng)
        paste(canvas, _bag(rng, logos), rng, scale=(0.5, 0.85))
    elif scene == "logo_on_plain":
        canvas, colour = _logo_background(rng)
        logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK[colour]))
        paste(canvas, perspective(logo, rng, strength=0.05), rng, scale=(0.55, 0.95))
    else:
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, _sign(rng, logos), rng, scale=(0.25, 0.55))
    return photo_finish(canvas, rng)


# --- scene parts ---------------------------------------------------------------------------


def _bag(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """A delivery bag, box or backpack with the logo printed on it (RGBA)."""
    colour_name = pick(rng, list(BAG_COLOURS))
    base = jitter(pick(rng, BAG_COLOURS[colour_name]), rng, 18)
    width = int(rng.integers(220, 320))
    height = int(width * rng.uniform(0.8, 1.35))
    shape = pick(rng, ["box", "paper_bag", "backpack"])
    bag = Image.new("RGBA", (width, height + height // 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(bag)
    top = height // 4
    if shape == "backpack":
        strap = shade(base, 0.6)
        draw.rounded_rectangle([width * 0.2, 0, width * 0.8, top * 2], radius=width // 8, outline=strap + (255,), width=8)
        draw.rounded_rectangle([0, top, width - 1, top + height - 1], radius=width // 10, fill=base + (255,))
    elif shape == "paper_bag":
        draw.arc([width * 0.3, top * 0.2, width * 0.7, top * 1.8], 180, 360, fill=shade(base, 0.55) + (255,), width=6)
        draw.rectangle([0, top, width - 1, top + height - 1], fill=base + (255,))
        draw.line([0, top + 12, width, top + 12], fill=shade(base, 0.85) + (255,), width=3)
    else:
        draw.polygon([(0, top), (width * 0.15, top * 0.4), (width * 0.85, top * 0.4), (width - 1, top)], fill=shade(base, 1.15) + (255,))
        draw.rectangle([0, top, width - 1, top + height - 1], fill=base + (255,))
    side_shading(bag, rng)

    logo_source = logos[rng.integers(len(logos))]
    logo = inked(logo_source, *pick(rng, LOGO_INK[colour_name]))
    logo_width = int(width * rng.uniform(0.45, 0.85))
    logo = logo.resize((logo_width, max(1, round(logo.height * logo_width / logo.width))), Image.Resampling.LANCZOS)
    if logo.height > height * 0.8:
        logo.thumbnail((logo_width, int(height * 0.8)), Image.Resampling.LANCZOS)
    x = (width - logo.width) // 2 + int(rng.integers(-width // 12, width // 12 + 1))
    y = top + int((height - logo.height) * rng.uniform(0.2, 0.6))
    bag.alpha_composite(logo, (max(0, x), max(0, y)))
    return perspective(bag, rng, strength=0.12)


def _cube_backpack(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """The insulated cube backpack of a courier: front face with the logo, top and side in shade."""
    colour_name = pick(rng, ["green", "green", "black"])
    base = jitter(pick(rng, BAG_COLOURS[colour_name]), rng, 15)
    width = int(rng.integers(200, 300))
    height = int(width * rng.uniform(0.85, 1.15))
    depth_x, depth_y = int(width * rng.uniform(0.1, 0.3)), int(width * rng.uniform(0.08, 0.25))
    side_left = rng.random() < 0.5
    front_x = depth_x if side_left else 0
    bag = Image.new("RGBA", (width + depth_x + 1, height + depth_y + 1), (0, 0, 0, 0))
    draw = ImageDraw.Draw(bag)
    x0, y0, x1, y1 = front_x, depth_y, front_x + width, depth_y + height
    shift = -depth_x if side_left else depth_x
    top = [(x0, y0), (x1, y0), (x1 + shift, 0), (x0 + shift, 0)]
    side_x = x0 if side_left else x1
    side = [(side_x, y0), (side_x, y1), (side_x + shift, y1 - depth_y), (side_x + shift, y0 - depth_y)]
    draw.polygon(top, fill=shade(base, rng.uniform(1.05, 1.3)) + (255,))
    draw.polygon(side, fill=shade(base, rng.uniform(0.55, 0.8)) + (255,))
    draw.rectangle([x0, y0, x1, y1], fill=base + (255,))
    seam = shade(base, 0.6) + (255,)
    draw.line([(x0, y0), (x1, y0)], fill=seam, width=3)
    if rng.random() < 0.5:  # reflective strip along the bottom
        strip = int(height * rng.uniform(0.04, 0.08))
        draw.rectangle([x0, y1 - 2 * strip, x1, y1 - strip], fill=jitter((200, 200, 200), rng, 30) + (255,))
    logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK[colour_name]))
    logo_width = int(width * rng.uniform(0.5, 0.85))
    logo = logo.resize((logo_width, max(1, round(logo.height * logo_width / logo.width))), Image.Resampling.LANCZOS)
    if logo.height > height * 0.7:
        logo.thumbnail((logo_width, int(height * 0.7)), Image.Resampling.LANCZOS)
    lx = x0 + (width - logo.width) // 2 + int(rng.integers(-width // 16, width // 16 + 1))
    ly = y0 + int((height - logo.height) * rng.uniform(0.25, 0.55))
    bag.alpha_composite(logo, (max(0, lx), max(0, ly)))
    side_shading(bag, rng)
    return perspective(bag, rng, strength=0.1)


def _bike_with_backpack(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """A bicycle or scooter seen from the side, a cube backpack on its rear rack."""
    width = int(rng.integers(360, 480))
    wheel = int(width * rng.uniform(0.26, 0.34))
    box = _cube_backpack(rng, logos)
    box_width = int(width * rng.uniform(0.35, 0.5))
    box = box.resize((box_width, max(1, round(box.height * box_width / box.width))), Image.Resampling.LANCZOS)
    height = box.height + int(wheel * 1.6)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    frame = jitter(pick(rng, [(30, 30, 30), (90, 90, 95), (160, 30, 30), (30, 60, 140), (220, 220, 220)]), rng, 20) + (255,)
    tyre = (25, 25, 25, 255)
    ground = height - 2
    rear = (wheel // 2 + 4, ground - wheel // 2)
    front = (width - wheel // 2 - 4, ground - wheel // 2)
    for cx, cy in (rear, front):
        r = wheel // 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=tyre, width=max(4, wheel // 12))
        for angle in rng.uniform(0, np.pi, 4):
            dx, dy = r * np.cos(angle), r * np.sin(angle)
            draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=(120, 120, 120, 255), width=1)
    seat = (rear[0] + int(wheel * 0.45), rear[1] - int(wheel * 0.9))
    crank = ((rear[0] + front[0]) // 2 - wheel // 6, rear[1])
    head = (front[0] - int(wheel * 0.25), front[1] - int(wheel * 0.9))
    thick = max(4, wheel // 14)
    for a, b in ((rear, crank), (rear, seat), (seat, crank), (crank, head), (seat, head), (head, front)):
        draw.line([a, b], fill=frame, width=thick)
    draw.line([head, (head[0] - wheel // 5, head[1] - wheel // 4)], fill=frame, width=thick)
    draw.line([(seat[0] - wheel // 6, seat[1] - 4), (seat[0] + wheel // 6, seat[1] - 4)], fill=tyre, width=thick + 2)
    rack_y = rear[1] - int(wheel * 0.75)
    draw.line([(rear[0] - wheel // 4, rack_y), (seat[0], rack_y)], fill=frame, width=thick)
    bx = max(0, rear[0] - box.width // 2)
    if rng.random() < 0.5:  # riding the other way; the logo itself must not be mirrored
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        bx = min(width - box.width, width - rear[0] - box.width // 2)
    image.alpha_composite(box, (max(0, bx), max(0, rack_y - box.height + thick)))
    return image


def _sign(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """The logo on a light panel: a shop sign, a poster, a screen."""
    logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK["plain"]))
    pad = int(logo.width * rng.uniform(0.05, 0.25))
    panel = Image.new("RGBA", (logo.width + 2 * pad, logo.height + 2 * pad), jitter(WHITE, rng, 12) + (255,))
    panel.alpha_composite(logo, (pad, pad))
    return perspective(panel, rng, strength=0.15)


def _background_photo(rng: np.random.Generator, backgrounds: Sequence[str | Path]) -> Image.Image:
    return open_image(backgrounds[rng.integers(len(backgrounds))]).copy()


def _plain_background(rng: np.random.Generator) -> Image.Image:
    """A studio-like wall: light, gently graded top to bottom."""
    size = (int(rng.integers(224, 320)), int(rng.integers(224, 320)))
    top = np.array(jitter((235, 232, 225), rng, 20), dtype=np.float32)
    bottom = top * rng.uniform(0.75, 1.0)
    ramp = np.linspace(0, 1, size[1], dtype=np.float32)[:, None, None]
    pixels = top * (1 - ramp) + bottom * ramp
    return Image.fromarray(np.broadcast_to(pixels, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8))


def _logo_background(rng: np.random.Generator) -> tuple[Image.Image, str]:
    """A flat brand background and the ink set that reads on it."""
    size = (int(rng.integers(224, 320)), int(rng.integers(180, 320)))
    colour_name = pick(rng, ["plain", "plain", "plain", "green", "black"])
    colour = jitter(WHITE, rng, 6) if colour_name == "plain" else pick(rng, BAG_COLOURS[colour_name])
    return Image.new("RGB", size, colour), colour_name


def jpeg_quality(seed: int, index: int) -> int:
    """A per-image JPEG quality, so compression artefacts vary like real uploads."""
    return int(np.random.default_rng([seed, index, 1]).integers(70, 95))
