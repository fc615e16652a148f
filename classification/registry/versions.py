"""Model versions: storing bundles as versions, and which one is active.

Web processes import and activate versions; they read metadata and copy files
but never load a model, so they never import TensorFlow (importing a bare
Keras file, which must load it, is :mod:`classification.registry.importing`).
Workers switch to a newly active version between tasks.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from classification.models import ModelVersion
from classification.registry.artifacts import sha256_of, verify_artifact
from ml.bundle import METADATA_FILENAME, MODEL_FILENAME, BundleError, BundleMetadata, read_metadata


#: Files kept beside a version; ``.npz`` is its validation split (:func:`ml.bundle.write_validation`).
REPORT_SUFFIXES = (".png", ".json", ".txt", ".md", ".npz")


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
            artifact_sha256=sha256_of(model_file),
            metrics=metadata.metrics,
            description=metadata.description,
            temperature=metadata.temperature,
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
        ModelVersion.objects.filter(pk=version.pk, activated_at=None).update(activated_at=timezone.now())
    version.refresh_from_db(fields=["is_active", "activated_at"])
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
        temperature=version.temperature,
    )




def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()


def model_version_by_id(pk: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=pk).first()
