"""Synthesised uber_eats images are deterministic per (seed, index) and look varied."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml import synth


@pytest.fixture
def logos(tmp_path):
    # Thin strokes, mostly transparent like lettering: dark "Uber" left, green "Eats" right.
    wordmark = Image.new("RGBA", (120, 40), (0, 0, 0, 0))
    for x in range(0, 120, 6):
        wordmark.paste((20, 30, 40, 255) if x < 60 else (6, 193, 103, 255), (x, 5, x + 2, 35))
    wordmark.save(tmp_path / "b_wordmark.png")
    Image.new("RGBA", (60, 60), (0, 0, 0, 255)).save(tmp_path / "a_badge.png")
    return synth.load_logos(tmp_path)


@pytest.fixture
def backgrounds(tmp_path):
    paths = []
    for i, colour in enumerate([(90, 120, 150), (160, 140, 100)]):
        path = tmp_path / f"bg{i}.jpg"
        Image.new("RGB", (200, 150), colour).save(path)
        paths.append(path)
    return paths


def test_logos_are_split_into_their_two_inks(logos):
    badge, wordmark = logos
    assert badge.badge and not wordmark.badge
    half = wordmark.eats_mask.shape[1] // 2
    assert wordmark.eats_mask[:, half:].any() and not wordmark.eats_mask[:, :half].any()
    recoloured = np.asarray(synth.inked(wordmark, (255, 255, 255), (0, 0, 0)))
    opaque = recoloured[..., 3] > 0
    assert (recoloured[:, :half][opaque[:, :half]][:, :3] == 255).all()  # "Uber" now white
    assert (recoloured[:, half:][opaque[:, half:]][:, :3] == 0).all()  # "Eats" now black


def test_the_same_seed_and_index_give_the_same_image(logos, backgrounds):
    first = [np.asarray(image) for image in synth.synthesise(logos, backgrounds, 6, seed=7)]
    again = np.asarray(synth.synthesise_one(logos, backgrounds, seed=7, index=4))
    assert np.array_equal(first[4], again)
    assert not np.array_equal(np.asarray(synth.synthesise_one(logos, backgrounds, seed=8, index=4)), again)
    assert len({image.tobytes() for image in first}) == 6
    assert all(image.ndim == 3 and image.shape[2] == 3 for image in first)


def test_bags_are_pasted_in_brand_colours(logos, backgrounds):
    green = np.array(synth.BAG_COLOURS["green"][0])
    # Without version 3's light and colour casts, which move every colour.
    images = [np.asarray(image).reshape(-1, 3).astype(int)
              for image in synth.synthesise(logos, backgrounds, 30, 0, lighting=False)]
    near_green = [np.mean(np.abs(pixels - green).sum(axis=1) < 60) for pixels in images]
    assert max(near_green) > 0.05  # plain backgrounds have no green: it came from a bag or logo


def test_no_backgrounds_is_an_error(logos):
    with pytest.raises(ValueError, match="background"):
        list(synth.synthesise(logos, [], 1, 0))


def test_decoys_draw_the_same_scenes_without_the_logo(logos, backgrounds):
    index = next(i for i in range(100) if synth.scene_of(0, i) == "logo_on_plain")
    real = np.asarray(synth.synthesise_one(logos, backgrounds, 0, index, lighting=False)).astype(int)
    decoy = np.asarray(synth.synthesise_one(logos, backgrounds, 0, index, lighting=False, decoy=True)).astype(int)
    assert real.shape == decoy.shape  # the same random draws
    assert decoy.std(axis=(0, 1)).max() < 8 < real.std(axis=(0, 1)).max()  # a flat background, only noise left


def test_couriers_wear_the_logo_over_photos_of_people(logos, backgrounds, tmp_path):
    person = tmp_path / "person.jpg"
    Image.new("RGB", (200, 150), (250, 0, 250)).save(person)  # magenta: found in no background
    worn = [i for i in range(60) if synth.scene_of(0, i) == "worn_by_person"]
    assert worn
    for i in worn:
        image = np.asarray(synth.synthesise_one(logos, backgrounds, 0, i, people=[person], lighting=False)).astype(int)
        assert np.mean(np.abs(image - (250, 0, 250)).sum(axis=2) < 60) > 0.3
