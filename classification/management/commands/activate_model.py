from django.core.management.base import BaseCommand, CommandError

from classification.registry import versions
from ml.bundle import BundleError


class Command(BaseCommand):
    help = "Make a model version the active one; running workers switch before their next task."

    def add_arguments(self, parser):
        parser.add_argument("version_id", type=int)

    def handle(self, *args, version_id, **options):
        version = versions.model_version_by_id(version_id)
        if version is None:
            known = ", ".join(str(pk) for pk in versions.model_versions().values_list("pk", flat=True)[:20]) or "none"
            raise CommandError(f"No model version {version_id}. Known versions: {known}.")
        try:
            versions.activate(version)
        except BundleError as exc:
            raise CommandError(f"Refused: {exc} The active model is unchanged.") from exc
        self.stdout.write(self.style.SUCCESS(f"Active model: {version}"))
