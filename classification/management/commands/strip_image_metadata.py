"""Remove EXIF, GPS, XMP, ICC and other metadata from images stored before intake stripped it."""

from django.core.management.base import BaseCommand

from classification.privacy import metadata


class Command(BaseCommand):
    help = (
        "Re-encode stored images that still carry metadata (EXIF with GPS positions, XMP, comments, ICC "
        "profiles, orientation tags) the way new uploads are stored, with new thumbnails. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the images that would change.")

    def handle(self, *args, dry_run, **options):
        report = metadata.clean_stored_images(dry_run=dry_run)
        verb = "would clean" if dry_run else "cleaned"
        self.stdout.write(f"Checked {report.checked} image(s); {verb} {report.cleaned}; {report.failed} failed.")
        if report.failed:
            raise SystemExit(1)
