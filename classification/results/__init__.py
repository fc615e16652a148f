"""Results: reading what was classified.

Owns: the read-side queries of classifications (history, search, status
polling, waiting for results) that pages and the API share.
May import: ``classification.models``.
"""
