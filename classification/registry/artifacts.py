"""Model artifacts in storage: their integrity, and the local copies workers load.

Web processes check artifacts (:func:`verify_artifact`) without loading a
model, so they never import TensorFlow. Workers call :func:`local_model_path`,
which keeps a local copy of each artifact keyed by its SHA-256, so a restart
does not download an unchanged model again.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from classification.models import ModelVersion
from ml.bundle import MODEL_FILENAME, BundleError


def sha256_of_stream(fh) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_of_stream(fh)


KERAS_ARCHIVE_MEMBERS = {"config.json", "model.weights.h5"}


def verify_artifact(version: ModelVersion) -> None:
    """Refuse an artifact that is missing, altered or not a Keras archive, without loading TensorFlow.

    Web processes activate models too, so this checks what it can cheaply: the
    stored bytes match the recorded SHA-256, and a ``.keras`` file is a sound
    zip with a model config and weights. Workers still load it for real, and
    keep the previous model if that fails (see ``classification.serving.process_model``).
    """
    try:
        with version.artifact.open("rb") as fh:
            digest = sha256_of_stream(fh)
            if digest != version.artifact_sha256:
                raise BundleError(
                    f"The artifact of {version} does not match its recorded SHA-256: it was altered or damaged."
                )
            if version.artifact.name.endswith(".keras"):
                fh.seek(0)
                _verify_keras_archive(fh, version)
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(f"The artifact of {version} cannot be read: {exc}") from exc


def _verify_keras_archive(fh, version: ModelVersion) -> None:
    try:
        with zipfile.ZipFile(fh) as archive:
            broken = archive.testzip()
            members = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise BundleError(f"The artifact of {version} is not a Keras archive.") from exc
    if broken or not KERAS_ARCHIVE_MEMBERS <= members:
        raise BundleError(f"The artifact of {version} is an incomplete Keras archive.")


def local_model_path(version: ModelVersion) -> Path:
    """A local copy of the version's artifact, downloaded once per content hash."""
    suffix = Path(version.artifact.name).suffix or Path(MODEL_FILENAME).suffix
    return _local_copy(version.artifact, version.artifact_sha256, f"model{suffix}", version)


def local_onnx_path(version: ModelVersion) -> Path:
    """A local copy of the version's compiled ONNX export, downloaded once per content hash."""
    return _local_copy(version.onnx_artifact, version.onnx_sha256, "model.onnx", version)


def store_beside(version: ModelVersion, path: Path, name: str) -> tuple[str, str]:
    """Save a graph made from the version (its export, its int8 graph) next to its artifact; return name and SHA-256."""
    with open(path, "rb") as fh:
        stored = default_storage.save(posixpath.join(posixpath.dirname(version.artifact.name), name), File(fh))
    return stored, sha256_of(path)


def local_int8_path(version: ModelVersion) -> Path:
    """A local copy of the version's int8 graph (:mod:`classification.registry.quantizing`), like the export."""
    return _local_copy(version.int8_artifact, version.int8_sha256, "model.int8.onnx", version)


def _local_copy(field_file, sha256: str, name: str, version: ModelVersion) -> Path:
    cache_dir = Path(settings.CLASSIFIER["MODEL_CACHE_DIR"]) / sha256
    target = cache_dir / name
    if target.is_file() and sha256_of(target) == sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Download next to the target, then rename: a crash never leaves half a model in the cache.
    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False, suffix=".part") as tmp:
        with field_file.open("rb") as source:
            shutil.copyfileobj(source, tmp)
        tmp_path = Path(tmp.name)
    if sha256_of(tmp_path) != sha256:
        tmp_path.unlink(missing_ok=True)
        raise BundleError(f"The stored {name} of {version} does not match its recorded SHA-256.")
    tmp_path.replace(target)
    return target
