"""Project package: settings, URLs, ASGI entry point and the Celery app."""

from classifier_site.celery import app as celery_app

__all__ = ["celery_app"]
