"""Content negotiation that answers JSON when the client asked for something the API does not speak.

A browser opening an API URL asks for ``text/html``; DRF would answer 406
(or, with its browsable renderer, build an HTML page, which failed with a
500 for the upload endpoint). The API speaks JSON, so that is the answer.
"""

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class JsonWhenNothingElseFits(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
