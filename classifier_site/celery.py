"""The Celery app.

Only configuration lives here. TensorFlow is never imported by this module or
anything the prefork parent imports: the model is loaded in each child process
(``classification.tasks`` connects ``worker_process_init`` to
``classification.serving.process_model``). Task names, queues and the beat
schedule are ``classification.queueing``'s.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")

app = Celery("classifier_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes the database connections after every task, and in a prefork child
# that has a connection pool it closes the pool with them, so each task would open a new pool and
# connection. It reads this old-style key (not namespaced) to leave connections alone; each task
# instead hands its connection back to the pool the way Django does around a request (below).
app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def return_database_connections(task=None, **_kwargs) -> None:
    """Before and after a task, as around a request: a broken connection is dropped, any other
    goes back to the pool (or is closed, without one). Eager tasks run inside the caller's
    connection and transaction (tests), which must stay open."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
