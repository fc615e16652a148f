"""Importing a bare Keras model file as a new version.

The file is loaded once to prove it is a model whose outputs match the class
names, so this module imports TensorFlow: it serves commands and workers,
never a web request.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from classification.models import ModelVersion
from classification.registry.versions import create_version
from ml.bundle import BundleError, BundleMetadata


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
