from django.core.management.base import BaseCommand, CommandError

from classification.registry import compiling, versions
from ml.bundle import BundleError


class Command(BaseCommand):
    help = (
        "Make sure a model version is active, importing the committed demo model if none is, and compiled "
        "(its ONNX export checked and stored), so that serving processes start without TensorFlow."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-compile", action="store_true",
                            help="Leave compiling to the registry task (workers serve with Keras until it is done).")

    def handle(self, *args, no_compile=False, **options):
        try:
            version, created = versions.ensure_active_version()
        except BundleError as exc:
            raise CommandError(f"Could not import the demo model: {exc}") from exc
        if created:
            self.stdout.write(self.style.SUCCESS(f"Imported and activated the demo model: {version}"))
        else:
            self.stdout.write(f"Active model: {version}")
        if version.compiled_at is None and not no_compile:
            # Here, before the workers start (scripts/run.sh, compose's migrate service): their first
            # start then loads the checked export in about a second instead of importing TensorFlow.
            version = compiling.compile_version(version.pk)
            self.stdout.write(f"Compiled: {version.onnx_error or 'ONNX export checked against Keras and stored'}")
