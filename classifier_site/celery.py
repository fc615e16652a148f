"""The Celery app.

Only configuration lives here. TensorFlow is never imported by this module or
anything the prefork parent imports: the model is loaded in each child process
by the ``worker_process_init`` handler in ``classification.worker``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

app = Celery("classifier_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
