"""Model versions: storing bundles as versions, and which one is active.

Web processes import and activate versions; they read metadata and copy files
but never load a model, so they never import TensorFlow (importing a bare
Keras file, which must load it, is :mod:`classification.registry.importing`).
Workers switch to a newly active version between tasks.
"""

from __future__ import annotations

import logging
import posixpath
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from classification import queueing

from classification.models import ModelVersion
from classification.registry.artifacts import sha256_of, verify_artifact
from ml.bundle import METADATA_FILENAME, MODEL_FILENAME, BundleError, BundleMetadata, read_metadata
from ml.errors import first_line

logger = logging.getLogger(__name__)


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
    queue_compile(version)
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


class ActivationRefused(BundleError):
    """Activating this version would break serving (e.g. the SageMaker endpoint serves other classes)."""


def activate(version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active model; workers switch between tasks.

    Raises :class:`BundleError` (and changes nothing) when its artifact is
    damaged, :class:`ActivationRefused` when the SageMaker endpoint that would
    serve it was configured for other class names. A version not compiled yet
    is queued for compiling (the registry task): workers serve it with Keras until then.
    """
    check_endpoint_classes(version)
    verify_artifact(version)
    with transaction.atomic():
        ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk).update(
            is_active=False
        )
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        ModelVersion.objects.filter(pk=version.pk, activated_at=None).update(activated_at=timezone.now())
    version.refresh_from_db(fields=["is_active", "activated_at"])
    record_load_success(version)  # activating again is a deliberate retry: no backoff left over
    if version.compiled_at is None:
        queue_compile(version)
    return version


def check_endpoint_classes(version: ModelVersion) -> None:
    """With the SageMaker backend, refuse a version whose classes are not the endpoint's.

    The endpoint runs the model it was deployed with; activating a version only
    changes the class names the answers are read with, so a mismatch would
    label every image wrongly. ``CLASSIFIER_SAGEMAKER_CLASS_NAMES`` says what the
    endpoint serves; it is required to activate anything with that backend.
    """
    if settings.CLASSIFIER_INFERENCE_BACKEND != "sagemaker":
        return
    served = list(settings.CLASSIFIER_SAGEMAKER_CLASS_NAMES)
    if not served:
        raise ActivationRefused(
            "The SageMaker endpoint's class names are not configured (CLASSIFIER_SAGEMAKER_CLASS_NAMES): "
            "no version can be checked against it."
        )
    if list(version.class_names) != served:
        raise ActivationRefused(
            f"{version} has the classes {', '.join(version.class_names)} but the SageMaker endpoint "
            f"{settings.CLASSIFIER_SAGEMAKER_ENDPOINT!r} serves {', '.join(served)}: deploy this version to "
            "the endpoint (and update CLASSIFIER_SAGEMAKER_CLASS_NAMES) first."
        )


def queue_compile(version: ModelVersion) -> None:
    """Have the registry task export and check this version, once the row is committed; never raises."""
    def send() -> None:
        try:
            queueing.compile_model(version.pk)
        except Exception:
            logger.warning("Could not queue compiling %s; `manage.py compile_model %s` does it", version, version.pk,
                           exc_info=True)

    transaction.on_commit(send)


def load_retry_due(version: ModelVersion, now=None) -> bool:
    """Whether a serving process may try to load ``version`` (it did not fail, or its backoff ended).

    The backoff starts at ``CLASSIFIER["LOAD_RETRY_SECONDS"]`` and doubles with
    each failure up to ``LOAD_RETRY_MAX_SECONDS``: a broken version is not
    loaded again on every task.
    """
    if version.load_failed_at is None:
        return True
    options = settings.CLASSIFIER
    wait = min(options["LOAD_RETRY_MAX_SECONDS"], options["LOAD_RETRY_SECONDS"] * 2 ** max(version.load_failures - 1, 0))
    return (now or timezone.now()) >= version.load_failed_at + timedelta(seconds=wait)


def record_load_failure(version: ModelVersion, error: Exception) -> None:
    version.load_error = first_line(error)[:2000] or type(error).__name__
    version.load_failed_at = timezone.now()
    version.load_failures += 1
    ModelVersion.objects.filter(pk=version.pk).update(
        load_error=version.load_error, load_failed_at=version.load_failed_at, load_failures=F("load_failures") + 1
    )


def record_load_success(version: ModelVersion) -> None:
    if version.load_failed_at is not None or version.load_error:
        ModelVersion.objects.filter(pk=version.pk).update(load_error="", load_failed_at=None, load_failures=0)
        version.load_error, version.load_failed_at, version.load_failures = "", None, 0


def active_version(*, only: tuple[str, ...] = ()) -> ModelVersion | None:
    """The active version; with ``only``, just those fields are read (any other loads when first used)."""
    active = ModelVersion.objects.filter(is_active=True)
    return (active.only(*only) if only else active).first()


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
