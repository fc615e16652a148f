"""A real Keras 2 model, written by tf-keras' own HDF5 writer, imported exactly as the README shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from classification.models import ModelVersion
from classification.registry import artifacts, versions
from ml.predictor import Predictor
from ml.preprocessing import prepare_batch
from tests.conftest import REPO_DIR, child_process_env, image_bytes

TF_KERAS_PREDICT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tf_keras
    model = tf_keras.models.load_model(sys.argv[1], compile=False)
    batch = np.load(sys.argv[2])
    print(json.dumps(model.predict(batch, verbose=0).tolist()))
    """
)


def readme_example() -> tuple[str, str]:
    """The README's Python block (writes the model) and shell block (imports it)."""
    readme = (REPO_DIR / "README.md").read_text()
    section = readme.split("<!-- legacy-import-example -->", 1)[1].split("<!-- /legacy-import-example -->", 1)[0]
    [python] = re.findall(r"```python\n(.*?)```", section, re.S)
    [shell] = re.findall(r"```sh\n(.*?)```", section, re.S)
    return python, shell.strip()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_readme_import_example_imports_a_tf_keras_hdf5_model_with_matching_predictions(tmp_path):
    python, shell = readme_example()
    env = {**child_process_env(), "PYTHONPATH": str(REPO_DIR), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for link in ("manage.py", ".venv"):  # the README's command runs from the project folder
        (tmp_path / link).symlink_to(REPO_DIR / link)

    written = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert written.returncode == 0, written.stderr[-2000:]
    images = [image_bytes(color=(200, 30, 30)), image_bytes("PNG", size=(80, 50), color=(10, 120, 240)),
              image_bytes(size=(64, 64), color=(240, 240, 20))]
    batch = prepare_batch(images, 64, "rescale")
    np.save(tmp_path / "batch.npy", batch)
    # The import and tf-keras' own predictions need only the written file, and each process spends seconds
    # importing TensorFlow: they run side by side.
    legacy = subprocess.Popen([sys.executable, "-c", TF_KERAS_PREDICT, str(tmp_path / "legacy_model.h5"),
                               str(tmp_path / "batch.npy")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        imported = subprocess.run(["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=300)
        legacy_out, legacy_err = legacy.communicate(timeout=300)
    finally:
        legacy.kill()
    assert imported.returncode == 0, imported.stdout[-2000:] + imported.stderr[-2000:]
    assert "Imported" in imported.stdout

    [version] = ModelVersion.objects.all()
    assert (version.class_names, version.input_size, version.preprocessing) == (
        ["human", "no_human", "uber_eats"], 64, "rescale")
    assert version.artifact.name.endswith(".keras")  # stored in the native format
    assert legacy.returncode == 0, legacy_err[-2000:]
    expected = np.array(json.loads(legacy_out.strip().splitlines()[-1]))

    served = Predictor.from_files(artifacts.local_model_path(version), versions.metadata_of(version))
    assert np.abs(served.predict_array(batch) - expected).max() < 1e-5
    assert not np.allclose(expected, expected[0])  # different images, different answers: a real comparison
