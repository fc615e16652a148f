"""The admin: a web-side room for staff.

Owns: reviewing results (list, queue, bulk reviews, export), model versions
(reports, activation), training runs (start, follow), worker processes, the
statistics page, cameras (settings, health), events, alert rules and the
alerts' delivery log. Its modules stay thin: every write goes through the review,
registry and training services.
May import: the service and selector rooms, ``classification.models``, and
``ml.config`` (the training options its form is built from).
Django's admin finds this package; importing the modules below registers them.
"""

from classification.admin import alerts, cameras, classifications, events, model_versions, training_runs, workers

__all__ = ["alerts", "cameras", "classifications", "events", "model_versions", "training_runs", "workers"]
