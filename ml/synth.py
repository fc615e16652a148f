"""Synthesised ``uber_eats`` photos: Uber Eats logos on bags, boxes and plain backgrounds.

There are no real Uber Eats photos to train on, only four logo files. Real
photos of the class show a courier carrying a delivery bag, a bag or box on its
own, or the logo on a plain background, so we compose those three scenes from
the logos and ordinary photos, plus (version 2) the insulated cube backpack
couriers carry, over a photo or on the rack of a drawn bicycle. Version 3 adds
the courier: the logo worn by the people of the photos (a backpack, a jacket,
a helmet), riders on bicycles and scooters, and light, colour casts and
motion blur as street photos have them. What is varied (bag colour and shape,
logo colouring, size, rotation, perspective, blur, light, JPEG quality) is
what a classifier should learn to ignore; what stays constant is the logo on a
bag-coloured surface, which is what it should learn to see.

With ``decoy=True`` the same scenes are drawn without any logo: a green box
on a bike is then no Uber Eats photo, and training on such images (labelled
as their background photo) teaches that the logo is what matters.

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
SCENES_V2 = (
    ("bag_on_photo", 0.3), ("backpack_on_photo", 0.2), ("bike_delivery", 0.15),
    ("bag_on_plain", 0.13), ("logo_on_plain", 0.12), ("sign_on_photo", 0.1),
)
# Version 3: a third of the images show the logo worn by a person of the photos or a rider.
SCENES = (
    ("bag_on_photo", 0.16), ("backpack_on_photo", 0.1), ("bike_delivery", 0.08), ("rider", 0.14),
    ("worn_by_person", 0.2), ("bag_on_plain", 0.11), ("logo_on_plain", 0.11), ("sign_on_photo", 0.1),
)
#: Scenes with a person in them: never drawn as decoys (a decoy is labelled no_human).
PEOPLE_SCENES = ("rider", "worn_by_person")
#: Bumped whenever the images drawn for a (seed, index) change, so cached datasets are rebuilt.
VERSION = 3

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
    scenes: Sequence[tuple[str, float]] = SCENES, people: Sequence[str | Path] = (), decoy: bool = False,
    lighting: bool = True,
) -> Iterator[Image.Image]:
    """Yield ``count`` RGB uber_eats images, numbered from ``start``.

    ``people``: photos of people, for the scenes where a person wears the logo
    (``backgrounds`` stand in when there are none). ``decoy``: no logo
    anywhere. ``lighting``: vary light, colour and motion blur (version 3).
    """
    if not backgrounds:
        raise ValueError("synthesise needs at least one background photo.")
    for index in range(start, start + count):
        yield synthesise_one(logos, backgrounds, seed, index, scenes, people, decoy, lighting)


def scene_of(seed: int, index: int, scenes: Sequence[tuple[str, float]] = SCENES) -> str:
    """The scene kind image ``index`` shows: the first draw of its generator."""
    return _scene(np.random.default_rng([seed, index]), scenes)


def _scene(rng: np.random.Generator, scenes: Sequence[tuple[str, float]]) -> str:
    names, weights = zip(*scenes)
    return names[rng.choice(len(names), p=np.array(weights) / sum(weights))]


def synthesise_one(
    logos: Sequence[Logo], backgrounds: Sequence[str | Path], seed: int, index: int,
    scenes: Sequence[tuple[str, float]] = SCENES, people: Sequence[str | Path] = (), decoy: bool = False,
    lighting: bool = True,
) -> Image.Image:
    rng = np.random.default_rng([seed, index])
    scene = _scene(rng, scenes)
    if decoy:
        logos = [_blank(logo) for logo in logos]
    if scene == "worn_by_person":
        canvas = _background_photo(rng, people or backgrounds)
        _wear(canvas, rng, logos)
    elif scene == "rider":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, _rider(rng, logos), rng, scale=(0.45, 0.95))
    elif scene == "backpack_on_photo":
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
    if lighting:
        canvas = light_and_motion(canvas, rng)
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


def _blank(logo: Logo) -> Logo:
    """The logo made fully transparent: a decoy scene is drawn with the same random draws, minus the logo."""
    clear = logo.image.copy()
    clear.putalpha(0)
    return Logo(image=clear, eats_mask=logo.eats_mask, badge=False)


def _wear(canvas: Image.Image, rng: np.random.Generator, logos: Sequence[Logo]) -> None:
    """The logo on what a person of the photo wears: a backpack, a jacket across the bottom, a helmet on top."""
    kind = pick(rng, ["backpack", "jacket", "jacket", "helmet"])
    if kind == "backpack":  # surveillance stills show people small: so is their backpack
        paste(canvas, _cube_backpack(rng, logos), rng, scale=(0.12, 0.45))
        return
    width, height = canvas.size
    colour_name = pick(rng, ["green", "green", "black"])
    base = jitter(pick(rng, BAG_COLOURS[colour_name]), rng, 15)
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    if kind == "jacket":  # shoulders and chest below a face close-up
        top = int(height * rng.uniform(0.6, 0.8))
        cx = width * rng.uniform(0.35, 0.65)
        half = width * rng.uniform(0.3, 0.55)
        draw.rounded_rectangle([cx - half, top, cx + half, height + 40], radius=int(half * 0.4), fill=base + (255,))
        area = (int(cx - half * 0.6), top + int((height - top) * 0.15), int(half * 1.2), int((height - top) * 0.6))
    else:  # a helmet over the top of the head
        cx, cy = width * rng.uniform(0.35, 0.65), height * rng.uniform(0.05, 0.3)
        rx, ry = width * rng.uniform(0.2, 0.35), height * rng.uniform(0.15, 0.25)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry * 1.4], fill=base + (255,))
        draw.rectangle([cx - rx, cy + ry * 0.7, cx + rx, cy + ry * 1.5], fill=(0, 0, 0, 0))
        area = (int(cx - rx * 0.6), int(cy - ry * 0.3), int(rx * 1.2), int(ry * 0.8))
    logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK[colour_name]))
    factor = min(area[2] / logo.width, area[3] / logo.height)
    logo = logo.resize((max(1, int(logo.width * factor)), max(1, int(logo.height * factor))), Image.Resampling.LANCZOS)
    layer.alpha_composite(logo, (max(0, area[0] + (area[2] - logo.width) // 2), max(0, area[1])))
    side_shading(layer, rng)
    canvas.paste(layer, (0, 0), layer)


def _rider(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
    """A courier riding a bicycle or a scooter, the cube backpack on their back."""
    scooter = rng.random() < 0.5
    width = int(rng.integers(360, 480))
    wheel = int(width * (rng.uniform(0.18, 0.24) if scooter else rng.uniform(0.26, 0.34)))
    height = int(width * 1.05)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    frame = jitter(pick(rng, [(30, 30, 30), (200, 200, 205), (160, 30, 30), (30, 60, 140), (240, 240, 240)]), rng, 20) + (255,)
    ground = height - 2
    rear, front = (wheel // 2 + 4, ground - wheel // 2), (width - wheel // 2 - 4, ground - wheel // 2)
    for cx, cy in (rear, front):
        r = wheel // 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(25, 25, 25, 255), width=max(5, wheel // 8))
    thick = max(5, wheel // 10)
    if scooter:  # a low deck between the wheels, a body over the rear one, a steering column in front
        deck_y = rear[1] - wheel // 3
        draw.rectangle([rear[0], deck_y - thick, front[0] - wheel // 2, deck_y], fill=frame)
        draw.rounded_rectangle([rear[0] - wheel * 0.6, deck_y - wheel * 1.0, rear[0] + wheel * 1.1, deck_y],
                               radius=wheel // 3, fill=frame)
        head = (front[0] - wheel // 3, front[1] - int(wheel * 2.6))
        draw.line([front, head], fill=frame, width=thick + 2)
        seat = (rear[0] + wheel // 2, deck_y - wheel)
    else:
        seat = (rear[0] + int(wheel * 0.45), rear[1] - int(wheel * 0.9))
        crank = ((rear[0] + front[0]) // 2 - wheel // 6, rear[1])
        head = (front[0] - int(wheel * 0.25), front[1] - int(wheel * 0.95))
        for a, b in ((rear, crank), (rear, seat), (seat, crank), (crank, head), (seat, head), (head, front)):
            draw.line([a, b], fill=frame, width=thick)
    # The rider: legs to the deck or pedals, a leaning torso, arms to the handlebar, a helmeted head.
    skin = jitter(pick(rng, [(224, 172, 140), (160, 110, 80), (100, 70, 50), (240, 200, 170)]), rng, 15) + (255,)
    clothes = jitter(pick(rng, [(30, 30, 35), (40, 60, 110), (90, 90, 95), (6, 150, 90), (20, 20, 20)]), rng, 15) + (255,)
    torso = int(wheel * (1.5 if scooter else 1.3))
    hip = (seat[0], seat[1] - thick)
    lean = rng.uniform(0.15, 0.45)
    shoulder = (int(hip[0] + torso * lean), int(hip[1] - torso * np.sqrt(1 - lean ** 2)))
    limb = max(8, wheel // 5)
    knee = (hip[0] + int(wheel * 0.6), hip[1] + int(wheel * 0.2))
    foot = (knee[0] - int(wheel * 0.1), rear[1] - (wheel // 3 if scooter else 0))
    draw.line([hip, knee, foot], fill=clothes, width=limb, joint="curve")
    box = _cube_backpack(rng, logos)
    box_width = int(torso * rng.uniform(0.6, 0.85))
    box = box.resize((box_width, max(1, round(box.height * box_width / box.width))), Image.Resampling.LANCZOS)
    draw.line([hip, shoulder], fill=clothes, width=int(limb * 1.8))
    draw.line([shoulder, ((shoulder[0] + head[0]) // 2, (shoulder[1] + head[1]) // 2 + limb), head],
              fill=clothes, width=limb, joint="curve")
    r = int(torso * 0.2)
    neck = (shoulder[0] + r // 2, shoulder[1] - r)
    draw.ellipse([neck[0] - r, neck[1] - r, neck[0] + r, neck[1] + r], fill=skin)
    helmet = jitter(pick(rng, [(6, 193, 103), (20, 20, 20), (240, 240, 240), (200, 40, 40)]), rng, 15) + (255,)
    draw.chord([neck[0] - r - 3, neck[1] - r - 5, neck[0] + r + 3, neck[1] + r], 180, 360, fill=helmet)
    x = max(0, shoulder[0] - box.width + limb)
    if rng.random() < 0.5:  # riding the other way; the backpack's logo must not be mirrored
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = max(0, width - x - box.width)
    image.alpha_composite(box, (x, max(0, shoulder[1] - limb)))
    return image


def light_and_motion(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Street light: exposure, contrast and a colour cast vary, and a moving courier blurs (version 3)."""
    pixels = np.asarray(canvas).astype(np.float32) / 255.0
    pixels = pixels ** rng.uniform(0.7, 1.5)  # gamma: dusk to glare
    pixels = (pixels - 0.5) * rng.uniform(0.75, 1.2) + 0.5
    pixels = pixels * rng.uniform(0.55, 1.15) * np.array(jitter((100, 100, 100), rng, 12)) / 100.0
    if rng.random() < 0.25:  # horizontal motion blur over a few pixels
        length = int(rng.integers(3, 9))
        pixels = np.mean([np.roll(pixels, k - length // 2, axis=1) for k in range(length)], axis=0)
    return Image.fromarray((pixels.clip(0, 1) * 255).astype(np.uint8))


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
