"""Intake: accepting images from every source (form, API, webcam) the same way.

Owns: the checks every image passes before anything is stored (validation),
rate limits for what DRF does not see (the form, webcam frames), and
submitting: store the file, record the row, queue it.
May import: ``classification.models``, ``classification.serving.dispatch`` and
``serving.notifications`` (to queue, or fail and tell), ``ml.preprocessing``.
Never TensorFlow: the web process runs all of it.
"""
