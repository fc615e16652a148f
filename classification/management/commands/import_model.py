from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classification.registry import importing, versions
from ml.bundle import BundleError
from ml.preprocessing import PREPROCESSING_MODES


class Command(BaseCommand):
    help = (
        "Import a Keras model as a new model version: a bundle folder (model.keras + metadata.json), "
        "or a .keras / legacy Keras 2 .h5 file with --classes and --preprocess."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="bundle folder, or a .keras / .h5 / .hdf5 model file")
        parser.add_argument("--classes", help="comma-separated class names, in the order of the model's outputs")
        parser.add_argument("--preprocess", choices=PREPROCESSING_MODES, help="how pixels are scaled for the model")
        parser.add_argument("--img-size", type=int, help="square input side; default: what the model declares")
        parser.add_argument("--name", help="version name; default: the file or folder name")
        parser.add_argument("--description", default="", help="origin, shown in the UI")
        parser.add_argument("--activate", action="store_true", help="serve it right away")

    def handle(self, *args, path, classes, preprocess, img_size, name, description, activate, **options):
        source = Path(path)
        try:
            if source.is_dir():
                version = versions.import_bundle(source, activate_now=activate)
            else:
                version = self._import_file(source, classes, preprocess, img_size, name, description, activate)
        except BundleError as exc:
            raise CommandError(str(exc)) from exc
        state = "active" if version.is_active else "inactive; activate it with: manage.py activate_model " + str(version.pk)
        self.stdout.write(self.style.SUCCESS(f"Imported {version} ({state})."))

    def _import_file(self, source, classes, preprocess, img_size, name, description, activate):
        if not source.exists():
            raise CommandError(f"{source} does not exist.")
        if not classes or not preprocess:
            raise CommandError("A model file needs --classes and --preprocess (a bundle folder carries them).")
        return importing.import_model_file(
            source,
            class_names=[c.strip() for c in classes.split(",") if c.strip()],
            preprocessing=preprocess,
            input_size=img_size,
            name=name or "",
            description=description,
            activate_now=activate,
        )
