"""Serving: what a worker process holds and does with queued images.

Owns: the model a process holds (:mod:`.process_model`: load, switch, status),
micro-batching (:mod:`.batching`), classifying stored images
(:mod:`.classify`), queueing a stored image (:mod:`.dispatch`),
the sweeper of stranded work (:mod:`.recovery`), pushing results to browsers
(:mod:`.notifications`) and the one JSON shape of a result (:mod:`.payloads`).
May import: ``classification.models``, ``classification.queueing``,
``classification.registry``, ``ml``. Web-side code may import only
``dispatch``, ``notifications`` and ``payloads`` (no TensorFlow behind them).
"""
