"""Registry: model versions, their artifacts, and which one is active.

Owns: storing bundles as versions, activation, artifact integrity and the
workers' local copies (:mod:`.artifacts`), importing bare Keras files
(:mod:`.importing`, which loads TensorFlow: commands and workers only),
compiling a version once into its checked ONNX export (:mod:`.compiling`,
TensorFlow too: the registry task and commands only).
May import: ``classification.models``, ``ml.bundle`` (and ``ml.keras_io``,
``ml.onnx_export``, ``ml.runtime_choice`` in ``importing`` and ``compiling`` only).
"""
