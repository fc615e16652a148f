from django.apps import AppConfig


class ClassificationConfig(AppConfig):
    name = "classification"
    verbose_name = "Image classification"

    def ready(self):
        from classification.privacy import owners  # noqa: F401  (connects the sign-in receiver that claims uploads)
