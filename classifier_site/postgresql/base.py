"""Django's PostgreSQL backend, reconnecting when the server dropped a connection between two uses.

A PostgreSQL restart, a failover or ``pg_terminate_backend`` ends the server
side of every connection (SQLSTATE 57P01). Django notices only when it next
uses one, and the pooled connection, or the one a request or a worker task
holds, then fails that query: every dropped connection cost one 500 or one
failed task. This backend (``ENGINE: classifier_site.postgresql``, chosen by
the settings for ``postgres://`` URLs) avoids that where it is safe:

* a connection taken from the pool whose server hung up while it waited is
  closed and another taken (no round trip: a hung-up socket is readable while
  the connection is idle);
* the same check runs when a transaction begins;
* a statement that fails because the connection is gone is run again on
  a new connection when it ran outside a transaction (autocommit), or was the
  first statement of one (nothing done in it yet: the transaction goes on, on
  the new connection), up to three times. The server ran nothing of it: a terminated backend
  aborts the statement it was running, and commits nothing of an open
  transaction.

Later in a transaction nothing is retried: the work before the failure is
lost with the connection, so the error goes up as before.
"""

from __future__ import annotations

import logging
import select

from django.db import InterfaceError, OperationalError
from django.db.backends.postgresql import base
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

logger = logging.getLogger(__name__)


def connection_lost(connection) -> bool:
    """Whether a psycopg connection is closed, broken, or has data waiting while idle (the server hung up)."""
    if connection is None:
        return False
    if connection.closed or connection.broken:
        return True
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


#: Statements run again at most this many times: connections dropped together (a restart, a failover, an
#: operator ending several backends) are ended one after another, so the connection a retry gets may be
#: the next to go (seen in the chaos test: nine backends ended, a retried INSERT's new connection among them).
RETRIES_AFTER_LOST_CONNECTION = 3


class RetryOnLostConnection:
    """Cursor wrapper part: a statement whose connection was lost runs again, on a new one, where it may."""

    def _execute(self, sql, params, *ignored_wrapper_args):
        return self._run_again_if_lost(super()._execute, sql, params, *ignored_wrapper_args)

    def _executemany(self, sql, param_list, *ignored_wrapper_args):
        return self._run_again_if_lost(super()._executemany, sql, param_list, *ignored_wrapper_args)

    def _run_again_if_lost(self, execute, *args):
        for retries_left in range(RETRIES_AFTER_LOST_CONNECTION, -1, -1):
            try:
                result = execute(*args)
                break
            except (OperationalError, InterfaceError):
                if not retries_left or not self._reconnected():
                    raise
        self.db.transaction_untouched = False
        return result

    def _reconnected(self) -> bool:
        if getattr(self.cursor, "name", None):  # a server-side cursor lives in its connection: nothing to redo
            return False
        if not self.db.reconnect_if_lost():
            return False
        self.cursor = self.db.create_cursor()
        return True


class RetryingCursorWrapper(RetryOnLostConnection, CursorWrapper):
    pass


class RetryingCursorDebugWrapper(RetryOnLostConnection, CursorDebugWrapper):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    transaction_untouched = False  # a transaction began and no statement ran in it yet

    def make_cursor(self, cursor):
        return RetryingCursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor):
        return RetryingCursorDebugWrapper(cursor, self)

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        pool = self.pool
        if pool is None:
            return connection
        for _ in range(pool.max_size):  # every idle connection of the pool may have been dropped at once
            if not connection_lost(connection):
                break
            connection.close()
            pool.putconn(connection)  # closed: the pool discards it and opens a replacement
            connection = pool.getconn()
        return connection

    def set_autocommit(self, autocommit, force_begin_transaction_with_broken_autocommit=False):
        if not autocommit and not self.in_atomic_block and connection_lost(self.connection):
            self._discard_connection()  # begin the transaction on a connection that is there
        super().set_autocommit(autocommit, force_begin_transaction_with_broken_autocommit)
        self.transaction_untouched = not autocommit

    def reconnect_if_lost(self) -> bool:
        """After a failed statement: reconnect when it failed for want of a connection and may run again.

        Outside a transaction, through Django's own close and connect. As a
        transaction's first statement, only the connection underneath is
        replaced, in the same transaction mode: Django's transaction state
        (the atomic blocks, the on-commit callbacks) carries on unchanged.
        """
        if not connection_lost(self.connection):
            return False
        if not self.in_atomic_block and self.autocommit:
            logger.warning("The database connection was lost; reconnecting and running the statement again")
            self._discard_connection()
            self.ensure_connection()
            return True
        if self.in_atomic_block and self.transaction_untouched and not self.savepoint_ids and not self.needs_rollback:
            logger.warning("The database connection was lost before the transaction did anything; "
                           "reconnecting and beginning it again")
            self._replace_connection_under_transaction()
            return True
        return False

    def _replace_connection_under_transaction(self) -> None:
        lost = self.connection
        try:
            lost.close()
        except Exception:
            pass
        if self.pool is not None:
            lost._pool.putconn(lost)  # closed: discarded
        self.connection = self.get_new_connection(self.get_connection_params())
        self._set_autocommit(True)
        if self.pool is None:  # a pool configures its connections itself
            self._configure_connection(self.connection)
        self._set_autocommit(False)

    def _discard_connection(self) -> None:
        try:
            self.connection.close()  # first, so that a pool drops it instead of keeping it
        except Exception:
            pass
        self.close()
