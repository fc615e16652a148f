from django.core.management.base import BaseCommand, CommandError

from classification.review import datasets
from ml.s3sync import S3SyncError


class Command(BaseCommand):
    help = "Export reviewed images as a training dataset (one folder per class) to a folder or s3://bucket/prefix."

    def add_arguments(self, parser):
        parser.add_argument("target", help="a local folder, or s3://bucket/prefix")

    def handle(self, *args, target, **options):
        try:
            count = datasets.export_reviewed(target)
        except (OSError, S3SyncError) as exc:
            raise CommandError(f"Could not export to {target}: {exc}") from exc
        if not count:
            raise CommandError("No reviewed images to export yet.")
        self.stdout.write(self.style.SUCCESS(f"Exported {count} reviewed image(s) to {target}."))
