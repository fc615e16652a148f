"""What the API reads and writes. Serializers only shape data; services and selectors do the work.

A classification has one JSON shape: :func:`classification.serving.payloads.classification_payload`
(used by the pages, polling and pushes). The API sends that payload with its URLs
made absolute, plus the API's own fields (``API_EXTRA_FIELDS``). The declared
fields below describe it for the OpenAPI schema; a test keeps them in step.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from classification.models import Classification, ModelVersion
from classification.serving.payloads import classification_payload

MAX_WAIT_SECONDS = 30
MAX_ID = 2**63 - 1

#: Fields the API adds to the shared payload.
API_EXTRA_FIELDS = ("status_url", "reviewed_label", "reviewed_at")


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ClassificationSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The classification's public id (its URLs use it too).")
    status = serializers.ChoiceField(choices=Classification.Status.choices)
    source = serializers.ChoiceField(choices=Classification.Source.choices)
    source_name = serializers.CharField(help_text="The source as pages name it (e.g. \"Upload form\").")
    stream = serializers.CharField(allow_null=True, help_text="camera:ID or webcam:SESSION for frames of a watched source.")
    original_name = serializers.CharField(help_text="The uploaded file's name, without any path.")
    predicted_label = serializers.CharField(allow_null=True, help_text="Null until the classification is done.")
    label_name = serializers.CharField(allow_null=True, help_text="The predicted label's display name.")
    confidence = serializers.FloatField(allow_null=True, help_text="Probability of the predicted label.")
    uncertain = serializers.BooleanField(help_text="Confidence below the review threshold (CLASSIFIER_UNCERTAIN_BELOW).")
    probabilities = serializers.DictField(child=serializers.FloatField(), help_text="Every class's probability.")
    display_names = serializers.DictField(child=serializers.CharField(), help_text="Each class's display name.")
    error_message = serializers.CharField(allow_null=True, help_text="Why the classification failed, if it did.")
    model_version = ModelVersionRefSerializer(allow_null=True, help_text="The model that classified the image.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    detail_url = serializers.URLField(help_text="The result's web page.")
    image_url = serializers.URLField(help_text="The stored image.")
    thumbnail_url = serializers.URLField(
        help_text="A JPEG thumbnail, at most 256 pixels a side, made when the image is classified; "
        "the image itself before."
    )
    status_url = serializers.URLField(help_text="This classification in the API: poll it until it is finished.")
    reviewed_label = serializers.CharField(allow_null=True, help_text="The label a person confirmed, if any.")
    reviewed_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Classification) -> dict:
        data = classification_payload(instance)
        data["status_url"] = reverse("api:classification-detail", args=[instance.public_id])
        data["reviewed_label"] = instance.reviewed_label or None
        data["reviewed_at"] = instance.reviewed_at.isoformat() if instance.reviewed_at else None
        request = self.context.get("request")
        if request is not None:
            for key, value in data.items():
                if key.endswith("_url") and value:
                    data[key] = request.build_absolute_uri(value)
        return data


class RejectedFileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The file's name (empty when the request itself had no usable file).")
    code = serializers.CharField(
        help_text="empty_file, invalid_image, corrupt_image, unsupported_type, file_too_large, "
        "too_many_pixels, missing_file, too_many_files or unavailable."
    )
    message = serializers.CharField()
    status = serializers.IntegerField(help_text="The HTTP status this file alone would have had.")


class SubmissionSerializer(serializers.Serializer):
    accepted = ClassificationSerializer(many=True, help_text="One row per accepted file, in upload order.")
    rejected = RejectedFileSerializer(many=True, help_text="Files that were not accepted, and why.")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable reason.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Invalid input: each field or parameter and its messages.",
    )
    rejected = RejectedFileSerializer(many=True, required=False, help_text="Uploads: each refused file.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class ClassificationUploadSerializer(serializers.Serializer):
    """The multipart body of an upload (described for the schema; services validate the files)."""

    files = serializers.ListField(
        child=serializers.FileField(),
        help_text="One or more images (JPEG, PNG, GIF, WebP, BMP, TIFF), each under the field name `files`.",
    )


class UploadOptionsSerializer(serializers.Serializer):
    wait = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_WAIT_SECONDS,
        help_text=f"Seconds (0–{MAX_WAIT_SECONDS}) to wait for the results: 200 with finished results "
        "when every accepted file finished in time, else 202 with their current state.",
    )


class ClassificationFilterSerializer(serializers.Serializer):
    owner = serializers.ChoiceField(
        choices=[("mine", "mine"), ("all", "all")], required=False, default="mine",
        help_text="mine (the default): your own classifications; all: everyone's, for users with the "
        "view permission on classifications (403 otherwise).",
    )
    label = serializers.CharField(required=False, help_text="Predicted label, exactly.")
    source = serializers.ChoiceField(choices=Classification.Source.choices, required=False)
    status = serializers.ChoiceField(choices=Classification.Status.choices, required=False)
    reviewed = serializers.BooleanField(
        required=False, help_text="true: only results a person reviewed; false: only unreviewed ones."
    )
    reviewed_label = serializers.CharField(required=False, help_text="Reviewed label, exactly.")
    model_version = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Id of the model version that classified."
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Created at or after this ISO 8601 time (a date alone means its midnight)."
    )
    created_before = serializers.DateTimeField(required=False, help_text="Created before this ISO 8601 time.")
    min_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)

    def validate(self, attrs: dict) -> dict:
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after > before:
            raise serializers.ValidationError({"created_before": "Must not be earlier than created_after."})
        low, high = attrs.get("min_confidence"), attrs.get("max_confidence")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_confidence": "Must not be less than min_confidence."})
        return attrs


class SuggestionSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, help_text="The class that is right, as its owner sees it.")


class ModelVersionSerializer(serializers.ModelSerializer):
    class_names = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Class names in the order of the model's outputs."
    )
    display_names = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="Class name → the name pages show."
    )
    metrics = serializers.DictField(read_only=True, help_text="Evaluation metrics recorded with the bundle.")
    sample_accuracy = serializers.FloatField(
        allow_null=True, read_only=True, help_text="Accuracy on the reference sample photos, when measured."
    )
    url = serializers.HyperlinkedIdentityField(view_name="api:model-version-detail")
    int8_decision = serializers.CharField(
        read_only=True, help_text='"served" (its int8 graph serves), "refused" (float serves), "" until compiled.'
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "url",
            "name",
            "architecture",
            "class_names",
            "display_names",
            "input_size",
            "preprocessing",
            "artifact_sha256",
            "metrics",
            "temperature",
            "int8_decision",
            "int8_reason",
            "int8_images",
            "int8_fp32_accuracy",
            "int8_accuracy",
            "int8_agreement",
            "sample_accuracy",
            "description",
            "is_demo",
            "is_active",
            "created_at",
            "compiled_at",
            "onnx_sha256",
            "onnx_max_difference",
            "onnx_error",
            "load_error",
            "load_failed_at",
        ]
        read_only_fields = fields
