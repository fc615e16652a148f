"""Alerts: telling people when a camera sees what they watch for.

Owns: checking rules against each frame counted in an event and firing
alerts (:mod:`.rules`), delivering them to webhooks, signed, and by e-mail,
with retries and a delivery log (:mod:`.delivery`, :mod:`.signing`).
May import: ``classification.models``, ``classification.queueing`` (deliveries
are Celery tasks on their own queue). Never TensorFlow.
"""
