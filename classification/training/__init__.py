"""Training: runs started from the admin or the command line, run on the training worker.

Owns: checking settings, recording and queueing runs, progress (:mod:`.runs`:
web-safe), and running them (:mod:`.execution`: imports TensorFlow through
``ml.train``, so only the training worker and ``manage.py train`` import it).
May import: ``classification.models``, ``classification.queueing``,
``classification.registry``, ``classification.review``, ``ml``.
"""
