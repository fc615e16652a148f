"""``manage.py capture``: the capture service, watching cameras with no browser open (README, Cameras)."""

import signal

from django.core.management.base import BaseCommand

from classification.cameras.service import CaptureService


class Command(BaseCommand):
    help = "Capture frames from the enabled cameras and send them to be classified; runs until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--max-cameras", type=int, default=None,
                            help="Cameras this process captures at most (default CLASSIFIER_CAPTURE_MAX_CAMERAS).")

    def handle(self, *args, max_cameras=None, **options):
        if max_cameras is not None and max_cameras < 1:
            self.stderr.write("--max-cameras must be at least 1.")
            raise SystemExit(2)
        service = CaptureService(max_cameras=max_cameras)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: service.stop())
        self.stdout.write(f"Capture service {service.holder} running; Ctrl-C stops it.")
        self.stdout.flush()
        service.run()
