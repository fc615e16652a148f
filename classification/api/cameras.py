"""Cameras through the API: a user's own cameras (staff: every camera), their health and events.

Passwords are write-only: answers say only whether one is stored. Credentials
typed into ``url`` are moved to ``username``/``password`` (cameras.services).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from classification.api.schema import errors
from classification.cameras.health import health_payload
from classification.cameras.services import CameraSettingsError, normalized_connection, visible_cameras
from classification.events.payloads import event_payload
from classification.events.selectors import camera_events
from classification.models import Camera

CAMERAS = ["cameras"]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The camera's public id.")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["online", "offline", "connecting", "no_capturer", "disabled"])
    status_since = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    last_frame_at = serializers.DateTimeField(allow_null=True)
    failures = serializers.IntegerField()
    frames_taken = serializers.IntegerField()


class CameraSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True, help_text="The camera's public id.")
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200,
                                     help_text="Write-only; never returned.")
    has_password = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = ["id", "name", "kind", "url", "username", "password", "has_password", "interval_seconds", "enabled",
                  "owner", "health", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_has_password(self, camera: Camera) -> bool:
        return bool(camera.password)

    @extend_schema_field(HealthSerializer)
    def get_health(self, camera: Camera) -> dict:
        return health_payload(camera, getattr(camera, "state", None))

    def validate(self, data):
        instance = self.instance
        kind = data.get("kind", instance.kind if instance else "")
        url = data.get("url", instance.url if instance else "")
        username = data.get("username", instance.username if instance else "")
        password = data.get("password", instance.password if instance else "")
        try:
            connection = normalized_connection(kind, url, username, password)
        except CameraSettingsError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        data.update(url=connection.url, username=connection.username, password=connection.password)
        return data


class EventSerializer(serializers.Serializer):
    """The shape of ``classification.events.payloads.event_payload``."""

    id = serializers.IntegerField()
    stream = serializers.CharField()
    source = serializers.CharField()
    camera = serializers.UUIDField(allow_null=True, help_text="The camera's public id.")
    label = serializers.CharField()
    label_name = serializers.CharField(help_text="The label's display name.")
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    duration_seconds = serializers.FloatField()
    frame_count = serializers.IntegerField()
    stored_count = serializers.IntegerField()
    peak_confidence = serializers.FloatField()
    best_frame = serializers.DictField(allow_null=True)


class CameraCollection(GenericAPIView):
    serializer_class = CameraSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = PageNumberPagination

    def get_queryset(self):
        return visible_cameras(self.request.user)

    @extend_schema(operation_id="cameras_list", tags=CAMERAS, summary="List cameras",
                   description="Your cameras (staff: every camera), with their health.",
                   responses={200: CameraSerializer(many=True), **errors(401, 404, 429)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(operation_id="cameras_create", tags=CAMERAS, summary="Add a camera",
                   description="It belongs to you; the capture service starts watching it within a few seconds "
                               "when it is enabled.",
                   responses={201: CameraSerializer, **errors(400, 401, 403, 429)})
    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        camera = serializer.save(owner=request.user)
        return Response(self.get_serializer(camera).data, status=status.HTTP_201_CREATED)


class CameraDetail(GenericAPIView):
    serializer_class = CameraSerializer
    permission_classes = [IsAuthenticated]

    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        return visible_cameras(self.request.user)

    @extend_schema(operation_id="cameras_retrieve", tags=CAMERAS, summary="One camera", parameters=[ID_PARAMETER],
                   responses={200: CameraSerializer, **errors(401, 404, 429)})
    def get(self, request: Request, id) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(operation_id="cameras_partial_update", tags=CAMERAS, summary="Change a camera",
                   description="Any of its settings; the capture service restarts it with them.",
                   parameters=[ID_PARAMETER], responses={200: CameraSerializer, **errors(400, 401, 403, 404, 429)})
    def patch(self, request: Request, id) -> Response:
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(self.get_serializer(serializer.save()).data)

    @extend_schema(operation_id="cameras_destroy", tags=CAMERAS, summary="Remove a camera",
                   description="Its frames and events stay in History.", parameters=[ID_PARAMETER],
                   responses={204: None, **errors(401, 403, 404, 429)})
    def delete(self, request: Request, id) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class CameraEvents(GenericAPIView):
    serializer_class = EventSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = PageNumberPagination

    @extend_schema(operation_id="cameras_events", tags=CAMERAS, summary="A camera's events, newest first",
                   parameters=[ID_PARAMETER, OpenApiParameter("label", str, description="Only this label.")],
                   responses={200: EventSerializer(many=True), **errors(401, 404, 429)})
    def get(self, request: Request, id) -> Response:
        camera = self.get_object_or_404(id)
        page = self.paginate_queryset(camera_events(camera, label=request.query_params.get("label", "")))
        return self.get_paginated_response([event_payload(event) for event in page])

    def get_object_or_404(self, public_id) -> Camera:
        return get_object_or_404(visible_cameras(self.request.user), public_id=public_id)
