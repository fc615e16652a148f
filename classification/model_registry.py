"""Model versions: importing bundles into storage, activating, fetching for workers.

Web processes call the import and activation functions; they read metadata and
copy files but never load a model, so they never import TensorFlow. Workers
call :func:`local_model_path`, which keeps a local copy of each artifact keyed
by its SHA-256, so a restart does not download an unchanged model again.
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
from django.db import transaction

from classification.models import ModelVersion
from ml.bundle import METADATA_FILENAME, MODEL_FILENAME, BundleError, BundleMetadata, read_metadata


def _sha256_of_stream(fh) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return _sha256_of_stream(fh)


REPORT_SUFFIXES = (".png", ".json", ".txt", ".md")


def create_version(
    model_file: Path,
    metadata: BundleMetadata,
    *,
    report_dir: Path | None = None,
    is_demo: bool = False,
    activate_now: bool = False,
) -> ModelVersion:
    """Store ``model_file`` (and the reports in ``report_dir``) as a new :class:`ModelVersion`."""
    model_file = Path(model_file)
    if not model_file.is_file():
        raise BundleError(f"Model file {model_file} does not exist.")
    with open(model_file, "rb") as fh:
        version = ModelVersion(
            name=metadata.name,
            architecture=metadata.architecture,
            class_names=list(metadata.class_names),
            input_size=metadata.input_size,
            preprocessing=metadata.preprocessing,
            artifact_sha256=_sha256_of(model_file),
            metrics=metadata.metrics,
            description=metadata.description,
            is_demo=is_demo,
        )
        version.artifact.save(model_file.name, File(fh), save=False)
    if report_dir is not None:
        version.report_files = _store_reports(Path(report_dir), posixpath.dirname(version.artifact.name))
    version.save()
    if activate_now:
        activate(version)
    return version


def _store_reports(directory: Path, prefix: str) -> dict[str, str]:
    stored = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in REPORT_SUFFIXES and path.name != METADATA_FILENAME:
            with open(path, "rb") as fh:
                stored[path.name] = default_storage.save(f"{prefix}/reports/{path.name}", File(fh))
    return stored


def import_bundle(directory: Path, *, is_demo: bool = False, activate_now: bool = False) -> ModelVersion:
    """Import a bundle folder (``model.keras`` + ``metadata.json``, and any reports beside them)."""
    directory = Path(directory)
    metadata = read_metadata(directory)
    return create_version(
        directory / MODEL_FILENAME, metadata, report_dir=directory, is_demo=is_demo, activate_now=activate_now
    )


KERAS_ARCHIVE_MEMBERS = {"config.json", "model.weights.h5"}


def verify_artifact(version: ModelVersion) -> None:
    """Refuse an artifact that is missing, altered or not a Keras archive, without loading TensorFlow.

    Web processes activate models too, so this checks what it can cheaply: the
    stored bytes match the recorded SHA-256, and a ``.keras`` file is a sound
    zip with a model config and weights. Workers still load it for real, and
    keep the previous model if that fails (see ``classification.worker``).
    """
    try:
        with version.artifact.open("rb") as fh:
            digest = _sha256_of_stream(fh)
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


def activate(version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active model; workers switch between tasks.

    Raises :class:`BundleError` (and changes nothing) when its artifact is damaged.
    """
    verify_artifact(version)
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).update(
            is_active=False
        )
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.is_active = True
    return version


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def ensure_active_version() -> tuple[ModelVersion, bool]:
    """Return the active version, importing and activating the default bundle if none is.

    Returns ``(version, created)`` so callers can say what happened.
    """
    version = active_version()
    if version is not None:
        return version, False
    bundle_dir = Path(settings.CLASSIFIER["DEFAULT_MODEL_DIR"])
    is_demo = bundle_dir.resolve() == (Path(settings.BASE_DIR) / "ml" / "demo_model").resolve()
    version = import_bundle(bundle_dir, is_demo=is_demo, activate_now=True)
    return version, True


def metadata_of(version: ModelVersion) -> BundleMetadata:
    return BundleMetadata(
        name=version.name,
        architecture=version.architecture,
        class_names=list(version.class_names),
        input_size=version.input_size,
        preprocessing=version.preprocessing,
        metrics=version.metrics,
        description=version.description,
    )


def local_model_path(version: ModelVersion) -> Path:
    """A local copy of the version's artifact, downloaded once per content hash."""
    cache_dir = Path(settings.CLASSIFIER["MODEL_CACHE_DIR"]) / version.artifact_sha256
    suffix = Path(version.artifact.name).suffix or Path(MODEL_FILENAME).suffix
    target = cache_dir / f"model{suffix}"
    if target.is_file() and _sha256_of(target) == version.artifact_sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Download next to the target, then rename: a crash never leaves half a model in the cache.
    with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False, suffix=".part") as tmp:
        with version.artifact.open("rb") as source:
            shutil.copyfileobj(source, tmp)
        tmp_path = Path(tmp.name)
    if _sha256_of(tmp_path) != version.artifact_sha256:
        tmp_path.unlink(missing_ok=True)
        raise BundleError(f"The stored artifact of {version} does not match its recorded SHA-256.")
    tmp_path.replace(target)
    return target


def import_model_file(
    path: Path,
    *,
    class_names: list[str],
    preprocessing: str,
    input_size: int | None = None,
    name: str = "",
    description: str = "",
    activate_now: bool = False,
) -> ModelVersion:
    """Import a bare Keras model file (``.keras``, or legacy Keras 2 ``.h5``).

    The model is loaded once to prove it is a model whose outputs match the
    class names, then stored in the native ``.keras`` format. This loads
    TensorFlow, so it belongs in commands and workers, never in a web request.
    """
    from ml.keras_io import input_size_of, load_model, output_count_of, save_as_keras

    path = Path(path)
    model = load_model(path)
    declared = input_size_of(model)
    if input_size is None and declared is None:
        raise BundleError(f"{path.name} does not declare a fixed square input; give the input size.")
    if input_size is not None and declared is not None and declared != input_size:
        raise BundleError(f"{path.name} takes {declared}×{declared} inputs, not {input_size}.")
    metadata = BundleMetadata(
        name=name or path.stem,
        architecture=f"imported {path.suffix.lstrip('.')}",
        class_names=class_names,
        input_size=input_size or declared,
        preprocessing=preprocessing,
        description=description or f"Imported from {path.name}.",
    )
    outputs = output_count_of(model)
    if outputs != len(class_names):
        raise BundleError(
            f"{path.name} has {outputs} outputs but {len(class_names)} class names were given "
            f"({', '.join(class_names)})."
        )
    with tempfile.TemporaryDirectory() as tmp:
        return create_version(save_as_keras(model, tmp), metadata, activate_now=activate_now)
