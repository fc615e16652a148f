"""Training, evaluation and serving prepare the same file into the same array.

The same files, in every Pillow mode an upload can arrive in and with an EXIF
rotation, go through the training input path (decode once into cached pixels,
then the ``tf.data`` pipeline without augmentation), the evaluation path and
the serving path, for every preprocessing mode; the arrays must be identical.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ml.config import TrainConfig
from ml.datasets import load_pixels
from ml.evaluate import predict_pixels
from ml.preprocessing import PREPROCESSING_MODES, prepare_batch

SIZE = 24


def _picture(width: int = 40, height: int = 30) -> Image.Image:
    """A picture with detail in both directions, so a rotation or a channel swap shows."""
    x = np.linspace(0, 255, width)[None, :]
    y = np.linspace(0, 255, height)[:, None]
    return Image.fromarray(np.dstack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                                      (x * y / 255) % 256]).astype(np.uint8))


def _files(directory) -> dict[str, bytes]:
    rgb = _picture()
    out = {}

    def save(name: str, image: Image.Image, fmt: str, **options) -> None:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        out[name] = buffer.getvalue()

    save("rgb.jpg", rgb, "JPEG", quality=90)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    save("rgba.png", rgba, "PNG")
    save("l.png", rgb.convert("L"), "PNG")
    save("p.png", rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=32), "PNG")
    save("cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90)
    wide = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    sixteen = Image.fromarray(wide)
    assert sixteen.mode.startswith("I;16")
    save("sixteen_bit.png", sixteen, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: "rotate 90° clockwise to view"
    save("exif_rotated.jpg", rgb, "JPEG", quality=90, exif=exif.tobytes())
    for name, data in out.items():
        (directory / name).write_bytes(data)
    return out


@pytest.mark.parametrize("mode", list(PREPROCESSING_MODES))
def test_training_evaluation_and_serving_prepare_identical_arrays(tmp_path, mode):
    from ml.fitting import pipeline

    files = _files(tmp_path)
    paths = [tmp_path / name for name in files]

    cached, kept = load_pixels(paths, SIZE)  # training and evaluation decode once, through input_pixels
    assert list(kept) == list(range(len(paths)))
    config = TrainConfig(data="", out="", arch="basic_cnn", weights=None, img_size=SIZE, batch_size=len(paths))
    [(training, _labels)] = [(batch.numpy(), labels) for batch, labels in
                             pipeline(cached, np.zeros(len(paths)), config, mode, augment=False)]
    serving = prepare_batch(list(files.values()), SIZE, mode)

    class Recorder:  # evaluation's path to the model: what predict_pixels feeds a predictor
        metadata = type("Metadata", (), {"preprocessing": mode})()
        class_names = ["a"]
        fed: list[np.ndarray] = []

        def predict_array(self, batch):
            self.fed.append(batch)
            return np.ones((len(batch), 1))

    recorder = Recorder()
    predict_pixels(recorder, cached, batch_size=len(paths))
    [evaluation] = recorder.fed

    assert serving.dtype == training.dtype == evaluation.dtype == np.float32
    assert serving.shape == (len(paths), SIZE, SIZE, 3)
    for index, name in enumerate(files):
        assert np.array_equal(training[index], serving[index]), f"{name}: training and serving differ"
        assert np.array_equal(evaluation[index], serving[index]), f"{name}: evaluation and serving differ"


def test_the_files_really_differ_in_the_ways_that_matter(tmp_path):
    """Guards the test above: the EXIF-rotated file comes out upright, the 16-bit one not white."""
    files = _files(tmp_path)
    pixels = {name: prepare_batch([data], SIZE, "none")[0] for name, data in files.items()}
    rotated, upright = pixels["exif_rotated.jpg"], pixels["rgb.jpg"]
    assert not np.allclose(rotated, upright, atol=20)  # rotated 90° before squashing: another picture
    assert 20 < pixels["sixteen_bit.png"].mean() < 235
