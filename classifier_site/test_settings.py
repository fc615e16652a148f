"""Settings for the test suite: the machine's real PostgreSQL and Redis.

Each test run gets its own test database, Redis queue and key prefixes (named
after the run), so two runs on one machine, or a running service, never
consume each other's messages or rows. Processes the tests start inherit the
run's names through the environment.
"""

import os
import tempfile

RUN_ID = os.environ.setdefault("CLASSIFIER_TEST_RUN_ID", str(os.getpid()))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="classifier-test-var-"))
os.environ.setdefault("CELERY_QUEUE", f"test-classify-{RUN_ID}")
os.environ.setdefault("CHANNELS_PREFIX", f"test-asgi-{RUN_ID}")
os.environ.setdefault("CACHE_PREFIX", f"test-classifier-{RUN_ID}")

from classifier_site.settings import *  # noqa: E402,F401,F403

DATABASES["default"]["TEST"] = {"NAME": f"test_classifier_{RUN_ID}"}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (WhiteNoise warns on a missing folder)
WHITENOISE_USE_FINDERS = True  # the servers the tests start serve static files without collectstatic
