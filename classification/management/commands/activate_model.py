from django.core.management.base import BaseCommand, CommandError

from classification import model_registry
from classification.models import ModelVersion
from ml.bundle import BundleError


class Command(BaseCommand):
    help = "Make a model version the active one; running workers switch before their next task."

    def add_arguments(self, parser):
        parser.add_argument("version_id", type=int)

    def handle(self, *args, version_id, **options):
        version = ModelVersion.objects.filter(pk=version_id).first()
        if version is None:
            known = ", ".join(str(pk) for pk in ModelVersion.objects.values_list("pk", flat=True)[:20]) or "none"
            raise CommandError(f"No model version {version_id}. Known versions: {known}.")
        try:
            model_registry.activate(version)
        except BundleError as exc:
            raise CommandError(f"Refused: {exc} The active model is unchanged.") from exc
        self.stdout.write(self.style.SUCCESS(f"Active model: {version}"))
