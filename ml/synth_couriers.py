"""The courier scenes of :mod:`ml.synth` (version 3): the logo worn by a person of the photo, riders.

Each function takes the image's own random generator (see :mod:`ml.synth`).
Only NumPy and Pillow are used.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ml.synth_drawing import jitter, paste, pick, side_shading
from ml.synth_items import BAG_COLOURS, LOGO_INK, Logo, cube_backpack, inked

def wear(canvas: Image.Image, rng: np.random.Generator, logos: Sequence[Logo]) -> None:
    """The logo on what a person of the photo wears: a backpack, a jacket across the bottom, a helmet on top."""
    kind = pick(rng, ["backpack", "jacket", "jacket", "helmet"])
    if kind == "backpack":  # surveillance stills show people small: so is their backpack
        paste(canvas, cube_backpack(rng, logos), rng, scale=(0.12, 0.45))
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


def rider(rng: np.random.Generator, logos: Sequence[Logo]) -> Image.Image:
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
    box = cube_backpack(rng, logos)
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
