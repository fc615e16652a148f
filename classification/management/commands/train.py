from django.core.management.base import BaseCommand, CommandError

from classification.registry import versions
from classification.training import execution, runs
from ml.config import add_training_arguments, config_from_options
from ml.train import print_progress


class Command(BaseCommand):
    help = (
        "Train a model (the options of `python -m ml.train`) into a new, inactive model version. "
        "Runs here with progress, or on the training worker with --background."
    )

    def add_arguments(self, parser):
        add_training_arguments(parser, with_out=False)
        parser.add_argument("--activate", action="store_true", help="activate the new version when training succeeds")
        parser.add_argument("--background", action="store_true", help="queue the run on the training worker")

    def handle(self, *args, **options):
        try:
            config = config_from_options({**options, "out": ""})
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        settings = config.settings()
        if options["background"]:
            run = runs.start_training(data=config.data, settings=settings)
            self.stdout.write(f"Queued training run #{run.pk}; follow it in the admin (Training runs).")
            return
        run = runs.create_run(data=config.data, settings=settings)
        run = execution.run_training(run.pk, echo=print_progress)
        if run.status != run.Status.DONE:
            raise CommandError(f"Training run #{run.pk} failed: {run.error_message}")
        version = run.model_version
        if options["activate"]:
            versions.activate(version)
        state = "active" if options["activate"] else f"inactive; activate with: manage.py activate_model {version.pk}"
        self.stdout.write(self.style.SUCCESS(f"Trained {version} ({state}); test accuracy {version.metrics.get('test_accuracy')}."))
