"""Privacy: each person's photos are theirs, and are kept only as long as needed.

Owns: who owns a classification (a signed-in user, or an anonymous visitor's
browser session through an owner key kept in it), claiming a session's
uploads at sign-in, deleting an upload with its files, the retention sweep
of expired unreviewed images, and cleaning metadata out of images stored
before intake stripped it. Who may *see* what is the one selector
``classification.results.selectors.visible_to``.
May import: ``classification.models``, ``classification.intake`` (the one
re-encoding of a stored image); never TensorFlow.
"""
