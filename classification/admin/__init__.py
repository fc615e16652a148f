"""The admin: a web-side room for staff.

Owns: reviewing results (list, queue, bulk reviews, export), model versions
(reports, activation), training runs (start, follow), worker processes and the
statistics page. Its modules stay thin: every write goes through the review,
registry and training services.
May import: the service and selector rooms, ``classification.models``, and
``ml.config`` (the training options its form is built from).
Django's admin finds this package; importing the modules below registers them.
"""

from classification.admin import classifications, model_versions, training_runs, workers

__all__ = ["classifications", "model_versions", "training_runs", "workers"]
