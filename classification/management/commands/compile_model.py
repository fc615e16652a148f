from django.core.management.base import BaseCommand, CommandError

from classification.registry import compiling, versions


class Command(BaseCommand):
    help = (
        "Export a model version to ONNX, check it against Keras and store it beside the model (what the registry "
        "task does when a version is imported or activated). Serving processes then load it without TensorFlow."
    )

    def add_arguments(self, parser):
        parser.add_argument("version_id", type=int, nargs="?", help="Default: the active version.")
        parser.add_argument("--again", action="store_true", help="Compile even if it was compiled before.")

    def handle(self, *args, version_id=None, again=False, **options):
        version = versions.model_version_by_id(version_id) if version_id else versions.active_version()
        if version is None:
            raise CommandError(f"No model version {version_id}." if version_id else "No model version is active.")
        version = compiling.compile_version(version.pk, again=again)
        if version.onnx_error:
            self.stdout.write(self.style.WARNING(f"{version}: no ONNX export to serve ({version.onnx_error}); "
                                                 "workers serve it with TensorFlow."))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"{version}: ONNX export stored ({version.onnx_artifact.name}, sha256 {version.onnx_sha256[:12]}…), "
                f"max difference from Keras {version.onnx_max_difference:.1e}"))
