"""Django's PostgreSQL backend, reconnecting after a lost connection (see :mod:`.base`)."""
