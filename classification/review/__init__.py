"""Review: people confirming or correcting results, and what that tells.

Owns: reviews (:mod:`.reviews`), reviewed images as training data
(:mod:`.datasets`), statistics against reviews (:mod:`.statistics`).
May import: ``classification.models``, ``ml.metrics``, ``ml.reports``, ``ml.s3sync``.
"""
