from django.core.management.base import BaseCommand, CommandError

from classification.registry import versions
from ml.bundle import BundleError


class Command(BaseCommand):
    help = "Make sure a model version is active, importing the committed demo model if none is."

    def handle(self, *args, **options):
        try:
            version, created = versions.ensure_active_version()
        except BundleError as exc:
            raise CommandError(f"Could not import the demo model: {exc}") from exc
        if created:
            self.stdout.write(self.style.SUCCESS(f"Imported and activated the demo model: {version}"))
        else:
            self.stdout.write(f"Active model: {version}")
