"""One JSON shape for every API error.

    {"error": {"code": "not_found", "message": "Not found.", "fields": {"wait": ["..."]}}}

``code`` is stable and machine-readable, ``message`` is for people, ``fields``
(only for invalid input) maps each bad parameter or field to its messages.
Upload rejections use the same shape and add ``rejected``: one entry per file
(``name``, ``code``, ``message``, ``status``), as in a partly accepted upload.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from classification.intake.submission import SubmissionResult


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this service accepts."
    default_code = "request_too_large"


def error_body(code: str, message: str, *, fields: dict | None = None, rejected: list | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if rejected is not None:
        error["rejected"] = rejected
    return {"error": error}


def error_response(
    status_code: int, code: str, message: str, *, fields: dict | None = None, rejected: list | None = None
) -> Response:
    return Response(error_body(code, message, fields=fields, rejected=rejected), status=status_code)


def rejection_response(result: SubmissionResult) -> Response:
    """The answer when no file of an upload was accepted: the status and reason of the rejections."""
    rejections = result.rejected
    codes = {rejection.code for rejection in rejections}
    code = codes.pop() if len(codes) == 1 else "files_rejected"
    if len(rejections) == 1:
        message = rejections[0].message
    else:
        message = f"None of the {len(rejections)} files was accepted; see rejected for each file's reason."
    fields = {"files": [f"{r.name}: {r.message}" if r.name else r.message for r in rejections]}
    return error_response(
        result.status, code, message, fields=fields, rejected=[r.as_dict() for r in rejections]
    )


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as ``{"field" or "parent.child": [messages]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if any(isinstance(item, (dict, list)) for item in detail):
            flat = {}
            for index, item in enumerate(detail):
                flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
            return flat
        return {prefix or "non_field_errors": [str(item) for item in detail]}
    return {prefix or "non_field_errors": [str(detail)]}


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def exception_handler(exc, context):
    """DRF's handler (status, ``WWW-Authenticate``, ``Retry-After``), with the body in the one error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):  # e.g. too many multipart fields or files
        exc = exceptions.ParseError(str(exc) or "The request could not be read.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a bug, left to Django's 500 handling and logging

    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "; ".join(
            f"{name}: {messages[0]}" if name != "non_field_errors" else messages[0]
            for name, messages in fields.items()
        )
        response.data = error_body("invalid", message or "Invalid input.", fields=fields)
    else:
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else "; ".join(
            f"{k}: {v[0]}" for k, v in _flatten(detail).items()
        )
        response.data = error_body(_code_of(exc), message)
    return response
