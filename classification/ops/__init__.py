"""Operations: what orchestrators and monitoring ask of the service.

Owns: liveness and readiness (:mod:`.health`), Prometheus metrics
(:mod:`.metrics`) and request middleware (sign-in for private deployments,
request timing).
May import: ``classification.models``, ``classification.queueing``.
"""
