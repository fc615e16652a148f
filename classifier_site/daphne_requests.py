"""Daphne's HTTP requests without Twisted's own parse of form bodies.

Daphne serves HTTP through Twisted, whose ``Request`` parses every multipart
or URL-encoded POST body into ``request.args`` with the ``email`` package
before daphne hands the raw body to Django, which parses it again. Daphne
never reads those args, so each upload was parsed twice: about a millisecond
of the web process's CPU per photo, and several copies of a large upload in
memory at once. Twisted has a switch for it (``parsePOSTFormSubmission``) that
daphne does not pass, so its request class gets it here. Run in the daphne
process only (``classifier_site.asgi``); a test checks that it holds.
"""

from __future__ import annotations


def stop_twisted_form_parsing() -> None:
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # served by another ASGI server: nothing to change
        return
    if getattr(WebRequest, "_classifier_form_parsing_off", False):
        return
    original_init = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._classifier_form_parsing_off = True
