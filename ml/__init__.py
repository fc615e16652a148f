"""Framework-free machine learning: data, architectures, training, evaluation, inference.

Nothing in this package imports Django, so it runs from a notebook, a CLI or a
Celery worker alike. TensorFlow/Keras are imported lazily inside functions, so
importing ``ml`` (or its preprocessing) never pulls TensorFlow into a process
that only needs to validate images.
"""
