"""What :mod:`ml.synth` draws the Uber Eats logo on: the logos themselves, bags, cube backpacks, bikes, signs.

Each function takes the image's own random generator (see :mod:`ml.synth`).
Only NumPy and Pillow are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ml.synth_drawing import jitter, perspective, pick, shade, side_shading

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


# --- scene parts ---------------------------------------------------------------------------


def bag(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
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


def cube_backpack(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
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


def bike_with_backpack(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """A bicycle or scooter seen from the side, a cube backpack on its rear rack."""
    width = int(rng.integers(360, 480))
    wheel = int(width * rng.uniform(0.26, 0.34))
    box = cube_backpack(rng, logos)
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


def sign(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """The logo on a light panel: a shop sign, a poster, a screen."""
    logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK["plain"]))
    pad = int(logo.width * rng.uniform(0.05, 0.25))
    panel = Image.new("RGBA", (logo.width + 2 * pad, logo.height + 2 * pad), jitter(WHITE, rng, 12) + (255,))
    panel.alpha_composite(logo, (pad, pad))
    return perspective(panel, rng, strength=0.15)


def blank(logo: Logo) -> Logo:
    """The logo made fully transparent: a decoy scene is drawn with the same random draws, minus the logo."""
    clear = logo.image.copy()
    clear.putalpha(0)
    return Logo(image=clear, eats_mask=logo.eats_mask, badge=False)
