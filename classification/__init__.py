"""The Django app: images in, labels out, people correcting them, the next model trained.

Grouped into rooms by concern (README, Architecture, has the map). Layers,
checked by import-linter (``.importlinter``) in the test command:

- web-side rooms: ``web`` (pages, consumers), ``api``, ``admin``, and
  ``tasks`` (Celery's side) call
- the services and selectors of ``intake``, ``serving``, ``registry``,
  ``review``, ``training``, ``ops``, ``results``, ``privacy`` and
  ``accounts``, which use
- ``queueing`` (the one seam to the broker) and ``models`` (what is stored).

Only ``queueing`` and ``tasks`` import Celery; ``ml`` imports nothing of this app.
"""
