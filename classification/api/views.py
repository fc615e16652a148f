"""API views: parse the request, call a service or selector, shape the answer."""

from __future__ import annotations

from django.urls import Resolver404, resolve
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classification.intake import submission
from classification.registry import versions
from classification.results import selectors
from classification.api.errors import error_response, rejection_response
from classification.api.permissions import StaffOnly
from classification.api.schema import errors
from classification.api.serializers import (
    ClassificationFilterSerializer,
    ClassificationSerializer,
    ClassificationUploadSerializer,
    ModelVersionSerializer,
    SubmissionSerializer,
    UploadOptionsSerializer,
)
from classification.api.throttling import UploadRateThrottle
from classification.models import Classification
from ml.bundle import BundleError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The object's id.")
#: Reads need no credentials; bad credentials are still refused (401).
READ_AUTH = [{"tokenAuth": []}, {"cookieAuth": []}, {}]
CLASSIFICATIONS = ["classifications"]
MODEL_VERSIONS = ["model versions"]


class ClassificationCollection(GenericAPIView):
    serializer_class = ClassificationSerializer
    pagination_class = Pagination
    parser_classes = [MultiPartParser]
    throttle_classes = [*APIView.throttle_classes, UploadRateThrottle]

    @extend_schema(
        operation_id="classifications_list",
        tags=CLASSIFICATIONS,
        auth=READ_AUTH,
        summary="List classifications",
        description="Newest first, filtered by any of the parameters, a page at a time.",
        parameters=[ClassificationFilterSerializer],
        responses={200: ClassificationSerializer(many=True), **errors(400, 401, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        filters = ClassificationFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.classification_search(**filters.validated_data))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="classifications_create",
        tags=CLASSIFICATIONS,
        summary="Classify images",
        description=(
            "Upload one or several images as `multipart/form-data`, each under the field name `files`. "
            "Each file is checked on its own: the answer is 202 with the accepted rows (poll each "
            "`status_url`) and a `rejected` list when at least one file was accepted; otherwise the "
            "rejections' status (400, 413, 415 or 503) with the error shape and `error.rejected`. "
            "Nothing is stored for a rejected file. With `wait`, the request waits up to that many "
            "seconds and answers 200 when every accepted file has finished. Needs a signed-in user "
            "unless `API_ALLOW_ANONYMOUS_WRITES` is on; rate-limited by `API_THROTTLE_UPLOADS`."
        ),
        parameters=[UploadOptionsSerializer],
        request={"multipart/form-data": ClassificationUploadSerializer},
        responses={
            200: OpenApiResponse(SubmissionSerializer, description="Every accepted file finished within `wait`."),
            202: OpenApiResponse(SubmissionSerializer, description="Accepted and queued (some files may be rejected)."),
            **errors(400, 401, 403, 413, 415, 429, 503),
        },
    )
    def post(self, request: Request) -> Response:
        options = UploadOptionsSerializer(data=request.query_params.dict())
        options.is_valid(raise_exception=True)
        result = submission.submit_uploads(
            request.FILES.getlist("files"), source=Classification.Source.API, user=request.user
        )
        if not result.accepted:
            return rejection_response(result)
        rows, finished = result.accepted, False
        if options.validated_data["wait"]:
            rows, finished = selectors.wait_until_finished(
                [row.pk for row in rows], timeout=options.validated_data["wait"]
            )
        body = {
            "accepted": self.get_serializer(rows, many=True).data,
            "rejected": [rejection.as_dict() for rejection in result.rejected],
        }
        return Response(body, status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)


class ClassificationDetail(GenericAPIView):
    serializer_class = ClassificationSerializer

    @extend_schema(
        operation_id="classifications_retrieve",
        tags=CLASSIFICATIONS,
        auth=READ_AUTH,
        summary="One classification",
        description="Its status and, once done, the label, confidence and every class's probability.",
        parameters=[ID_PARAMETER],
        responses={200: ClassificationSerializer, **errors(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        classification = selectors.classification_by_id(pk)
        if classification is None:
            raise NotFound(f"No classification with id {pk}.")
        return Response(self.get_serializer(classification).data)


class ModelVersionCollection(GenericAPIView):
    serializer_class = ModelVersionSerializer
    pagination_class = Pagination

    @extend_schema(
        operation_id="model_versions_list",
        tags=MODEL_VERSIONS,
        auth=READ_AUTH,
        summary="List model versions",
        description="Newest first; `is_active` marks the one that classifies new uploads.",
        responses={200: ModelVersionSerializer(many=True), **errors(401, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(versions.model_versions())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _model_version_or_404(pk: int):
    version = versions.model_version_by_id(pk)
    if version is None:
        raise NotFound(f"No model version with id {pk}.")
    return version


class ModelVersionDetail(GenericAPIView):
    serializer_class = ModelVersionSerializer

    @extend_schema(
        operation_id="model_versions_retrieve",
        tags=MODEL_VERSIONS,
        auth=READ_AUTH,
        summary="One model version",
        parameters=[ID_PARAMETER],
        responses={200: ModelVersionSerializer, **errors(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(self.get_serializer(_model_version_or_404(pk)).data)


class ModelVersionActivate(GenericAPIView):
    serializer_class = ModelVersionSerializer
    permission_classes = [StaffOnly]

    @extend_schema(
        operation_id="model_versions_activate",
        tags=MODEL_VERSIONS,
        summary="Activate a model version (staff only)",
        description="Makes this version the one active model; workers switch to it before their next task.",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: ModelVersionSerializer, **errors(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            version = versions.activate(_model_version_or_404(pk))
        except BundleError as exc:
            return error_response(409, "damaged_model", f"{exc} The active model is unchanged.")
        return Response(self.get_serializer(version).data)


@extend_schema(exclude=True)
class NotFoundView(APIView):
    """Any other path under /api/v1/: a JSON 404, with a hint when only the trailing slash is missing."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def _answer(self, request: Request, *args, **kwargs) -> Response:
        message = f"No API endpoint at {request.path}."
        if not request.path.endswith("/"):
            try:
                match = resolve(request.path + "/")
            except Resolver404:
                match = None
            if match is not None and getattr(match.func, "view_class", None) is not NotFoundView:
                message += f" Did you mean {request.path}/?"
        return error_response(status.HTTP_404_NOT_FOUND, "not_found", message)

    get = post = put = patch = delete = head = options = _answer
