"""API views: parse the request, call a service or selector, shape the answer."""

from __future__ import annotations

from django.urls import Resolver404, resolve
from drf_spectacular.types import OpenApiTypes
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
from classification.privacy import deletion
from classification.privacy.owners import request_owner
from classification.registry import versions
from classification.results import selectors
from classification.review import reviews, suggestions
from classification.api.errors import error_response, rejection_response
from classification.api.permissions import CanActivateModels
from classification.api.schema import errors
from classification.api.serializers import (
    ClassificationFilterSerializer,
    ClassificationSerializer,
    ClassificationUploadSerializer,
    ModelVersionSerializer,
    SubmissionSerializer,
    SuggestionSerializer,
    UploadOptionsSerializer,
)
from classification.api.throttling import UploadRateThrottle
from classification.models import Classification
from ml.bundle import BundleError


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The object's id.")
PUBLIC_ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The classification's public id."
)
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
        description="Your own classifications (a token's user, or this browser session's), newest first, "
        "filtered by any of the parameters, a page at a time. `owner=all` lists everyone's, for users "
        "with the view permission on classifications.",
        parameters=[ClassificationFilterSerializer],
        responses={200: ClassificationSerializer(many=True), **errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        filters = ClassificationFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        options = dict(filters.validated_data)
        visible = _visible(request, everything=options.pop("owner") == "all")
        page = self.paginate_queryset(selectors.classification_search(visible, **options))
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
        owner = request_owner(request, create=True)
        result = submission.submit_uploads(
            request.FILES.getlist("files"), source=Classification.Source.API, user=owner.user, owner_key=owner.key
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


def _visible(request: Request, *, everything: bool = False):
    """What this client may see: its token's or session's user, or its anonymous session's uploads."""
    owner = request_owner(request)
    return selectors.visible_to(request.user, owner.key, everything=everything)


def _classification_or_404(request: Request, public_id) -> Classification:
    classification = selectors.classification_by_public_id(_visible(request), public_id)
    if classification is None:
        raise NotFound(f"No classification {public_id} of yours.")
    return classification


class ClassificationDetail(GenericAPIView):
    serializer_class = ClassificationSerializer

    @extend_schema(
        operation_id="classifications_retrieve",
        tags=CLASSIFICATIONS,
        auth=READ_AUTH,
        summary="One classification",
        description="Its status and, once done, the label, confidence and every class's probability. "
        "Only your own: anyone else's is a 404.",
        parameters=[PUBLIC_ID_PARAMETER],
        responses={200: ClassificationSerializer, **errors(401, 404, 429)},
    )
    def get(self, request: Request, id) -> Response:  # noqa: A002  (the path parameter is the payload's "id")
        return Response(self.get_serializer(_classification_or_404(request, id)).data)

    @extend_schema(
        operation_id="classifications_destroy",
        tags=CLASSIFICATIONS,
        auth=READ_AUTH,
        summary="Delete one of your classifications",
        description="Removes the result, the stored image and its thumbnail for good.",
        parameters=[PUBLIC_ID_PARAMETER],
        responses={204: None, **errors(401, 403, 404, 429, 503)},
    )
    def delete(self, request: Request, id) -> Response:  # noqa: A002
        try:
            deletion.delete_classification(_classification_or_404(request, id))
        except deletion.DeletionFailed as exc:
            return error_response(503, "unavailable", str(exc))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClassificationSuggestion(GenericAPIView):
    serializer_class = ClassificationSerializer

    @extend_schema(
        operation_id="classifications_suggest",
        tags=CLASSIFICATIONS,
        auth=READ_AUTH,
        summary="Say which label is right",
        description="Your correction of a finished result of yours. It waits in the staff review queue; "
        "the reviewed label, which trains the next model, changes only when staff accept it.",
        parameters=[PUBLIC_ID_PARAMETER],
        request=SuggestionSerializer,
        responses={200: ClassificationSerializer, **errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, id) -> Response:  # noqa: A002
        body = SuggestionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        classification = _classification_or_404(request, id)
        try:
            suggestions.suggest(classification, label=body.validated_data["label"], user=request.user)
        except reviews.ReviewError as exc:
            return error_response(400, "invalid", str(exc), fields={"label": [str(exc)]})
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
    permission_classes = [CanActivateModels]

    @extend_schema(
        operation_id="model_versions_activate",
        tags=MODEL_VERSIONS,
        summary="Activate a model version (needs the change permission on model versions)",
        description="Makes this version the one active model; workers switch to it before their next task.",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: ModelVersionSerializer, **errors(401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            version = versions.activate(_model_version_or_404(pk))
        except versions.ActivationRefused as exc:
            return error_response(409, "endpoint_mismatch", f"{exc} The active model is unchanged.")
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
