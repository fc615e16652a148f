"""Settings for the test suite: the machine's real PostgreSQL and Redis.

The suite uses its own Redis database and queue names so it never consumes
messages of a service running on the same machine.
"""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="classifier-test-var-"))
os.environ.setdefault("CELERY_QUEUE", "test-classify")
os.environ.setdefault("CHANNELS_PREFIX", "test-asgi")
os.environ.setdefault("CACHE_PREFIX", "test-classifier")

from classifier_site.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (WhiteNoise warns on a missing folder)
