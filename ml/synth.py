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

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from ml.preprocessing import open_image
from ml.synth_couriers import rider, wear
from ml.synth_drawing import jitter, paste, perspective, photo_finish, pick
from ml.synth_items import (  # noqa: F401  (BAG_COLOURS, Logo, load_logos: this module's public names too)
    BAG_COLOURS, LOGO_INK, WHITE, Logo, bag, bike_with_backpack, blank, cube_backpack, inked, load_logos, sign,
)

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
        logos = [blank(logo) for logo in logos]
    if scene == "worn_by_person":
        canvas = _background_photo(rng, people or backgrounds)
        wear(canvas, rng, logos)
    elif scene == "rider":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, rider(rng, logos), rng, scale=(0.45, 0.95))
    elif scene == "backpack_on_photo":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, cube_backpack(rng, logos), rng, scale=(0.3, 0.75))
    elif scene == "bike_delivery":
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, bike_with_backpack(rng, logos), rng, scale=(0.55, 0.95))
    elif scene == "bag_on_photo":
        canvas = _background_photo(rng, backgrounds)
        for _ in range(1 if rng.random() < 0.8 else 2):
            paste(canvas, bag(rng, logos), rng, scale=(0.3, 0.7))
    elif scene == "bag_on_plain":
        canvas = _plain_background(rng)
        paste(canvas, bag(rng, logos), rng, scale=(0.5, 0.85))
    elif scene == "logo_on_plain":
        canvas, colour = _logo_background(rng)
        logo = inked(logos[rng.integers(len(logos))], *pick(rng, LOGO_INK[colour]))
        paste(canvas, perspective(logo, rng, strength=0.05), rng, scale=(0.55, 0.95))
    else:
        canvas = _background_photo(rng, backgrounds)
        paste(canvas, sign(rng, logos), rng, scale=(0.25, 0.55))
    if lighting:
        canvas = light_and_motion(canvas, rng)
    return photo_finish(canvas, rng)


# --- scene backgrounds and finish ----------------------------------------------------------


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
