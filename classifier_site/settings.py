"""Settings, all from the environment (see .env.example and the README).

The embedded default needs nothing configured: SQLite, media on local disk,
the machine's Redis at 127.0.0.1:6379. Setting ``REDIS_URL`` to an empty
value selects the documented no-Redis fallback (a filesystem Celery broker, an
in-process channel layer and a file cache), which ``scripts/run.sh`` chooses
by itself when no Redis answers.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from classifier_site.secret_key import persistent_secret_key
from classifier_site.storage import s3_storage
from ml.cores import default_pool_size

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite, media and caches live here by default

# Without DJANGO_SECRET_KEY a random key is made once and kept in VAR_DIR (mode 0600), so `make run`
# needs no configuration and sessions survive restarts. Several machines must share one: set it.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or persistent_secret_key(VAR_DIR)
# Off unless asked for: a debug page shows settings and paths. scripts/run.sh refuses it on a
# non-local HOST, and the middleware below answers only loopback clients while it is on.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if SECRET_KEY == "dev-only-insecure-key-change-me":  # the old .env.example's value: public, so never a key
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the published example value: set a long random one, or unset it.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "classification",
]

MIDDLEWARE = [
    "classification.ops.middleware.DebugOnlyForLoopback",
    "classification.ops.middleware.RefuseNulCharacters",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "classification.ops.middleware.RequestTimingMiddleware",
]

ROOT_URLCONF = "classifier_site.urls"
ASGI_APPLICATION = "classifier_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "classification.web.context_processors.active_model",
            ],
            # Labels, confidences and times shown one way on every page, the admin's included.
            "builtins": ["classification.web.presentation"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# PostgreSQL connections come from a pool in each process (psycopg_pool). Without one, Django
# under ASGI opens a connection for every request (its threads live one request each), and a
# Celery worker one for every task: a few milliseconds each, the largest cost of an upload after
# the model (README, Performance). 0 turns the pool off. SQLite opens a file; it needs none.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 10, "max_idle": 300,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, reconnecting when the server dropped a connection between two uses (a restart,
    # pg_terminate_backend) instead of failing the request or task that next used it.
    DATABASES["default"]["ENGINE"] = "classifier_site.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write (web, workers, the capture service): a transaction takes the write lock
    # when it begins, waiting for it, instead of failing when it cannot upgrade a read lock later.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Serve static files from the app folders in development, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- S3 (or MinIO, or any S3-compatible store) -----------------------------
# Setting a bucket moves uploads, webcam frames, model bundles and reports
# there. Credentials come from the standard AWS chain (environment variables,
# ~/.aws, instance or task roles), never from these settings.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default=None)
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = s3_storage(
        AWS_STORAGE_BUCKET_NAME,
        endpoint_url=AWS_S3_ENDPOINT_URL,
        region_name=AWS_S3_REGION_NAME,
        location=env("AWS_LOCATION", default=""),
        url_expire_seconds=env.int("AWS_QUERYSTRING_EXPIRE", default=300),
    )

# --- Redis, or the no-Redis fallback -------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, minus a crash when Redis goes away (classifier_site/broker.py).
    CELERY_BROKER_TRANSPORT = "classifier_site.broker:Transport"
    # One Redis list a queue: no task here has a priority, and kombu's four lists (priorities 0, 3, 6, 9) made
    # every look into an empty queue four RPOPs (a worker's take of companions ends with one) and every
    # wait a BRPOP on four keys. A priority set on a message still lands in the one list.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"priority_steps": [0]}
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, waiting out a Redis restart instead of closing every socket (classifier_site/channel_layer.py).
            "BACKEND": "classifier_site.channel_layer.TolerantRedisChannelLayer",
            # channels-redis blocks 5 s in BZPOPMIN waiting for messages and redis-py 8 reads with a
            # 5 s timeout by default: without a longer read timeout an idle socket (a webcam page
            # between two frames 10 s apart) has its receive time out and is closed (1011).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env("CHANNELS_PREFIX", default="asgi"),
            },
        }
    }
    CACHES = {
        "default": {
            # Answers as an empty cache while Redis restarts (classifier_site/cache.py).
            "BACKEND": "classifier_site.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_PREFIX", default="classifier"),
            "OPTIONS": {"pool_class": "classifier_site.cache.SharedConnectionPool",
                        "socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # Only the web process can reach an in-memory layer: pages fall back to polling.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery -----------------------------------------------------------------
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="classify")
# Training gets its own queue and worker, so a long training never delays a classification.
CELERY_TRAINING_QUEUE = env("CELERY_TRAINING_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-training")
# Alert deliveries (webhooks, e-mail) wait on other people's servers: their own queue and worker.
CELERY_ALERTS_QUEUE = env("CELERY_ALERTS_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-alerts")
# The sweeper (and other housekeeping) has its own queue and a one-process worker running beat, so it is
# never stuck behind the classify backlog it checks.
CELERY_SWEEPER_QUEUE = env("CELERY_SWEEPER_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-sweeper")
# All declared: a bare `celery worker` serves them all; `make run` starts one worker per queue.
CELERY_TASK_QUEUES = (
    Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(CELERY_TRAINING_QUEUE), Queue(CELERY_ALERTS_QUEUE),
    Queue(CELERY_SWEEPER_QUEUE),
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker processes per worker (two, or one on one core: ml/cores.py says why); each caps its runtime at
# cores // processes threads.
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=default_pool_size())
# A new pool process has this long to report that it is up, and it loads the model first: Celery's
# 4 s default kills a process still loading and forks another, for ever (issue 14).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=120.0)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Classification ---------------------------------------------------------
CLASSIFIER = {
    # Upload limits: bytes on the wire, pixels once decoded (decompression bombs).
    "MAX_UPLOAD_BYTES": env.int("CLASSIFIER_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024),
    "MAX_IMAGE_PIXELS": env.int("CLASSIFIER_MAX_IMAGE_PIXELS", default=40_000_000),
    "MAX_FILES_PER_REQUEST": env.int("CLASSIFIER_MAX_FILES_PER_REQUEST", default=20),
    "THUMBNAIL_SIZE": 256,
    # Results whose (calibrated) confidence is below this are marked uncertain and lead the review queue.
    "UNCERTAIN_BELOW": env.float("CLASSIFIER_UNCERTAIN_BELOW", default=0.6),
    # The sweeper (classification.serving.recovery) queues again, up to MAX_ATTEMPTS times, a running row whose
    # worker process is dead, and a row queued longer than this whose message is in neither the broker's queue
    # nor a live worker's hands (a long backlog is only waiting: it is left alone).
    "STUCK_AFTER_SECONDS": env.int("CLASSIFIER_STUCK_AFTER_SECONDS", default=60),
    "MAX_ATTEMPTS": env.int("CLASSIFIER_MAX_ATTEMPTS", default=3),
    # Every worker process beats this often (classification.serving.heartbeats); one silent for three
    # beats counts as dead (readiness, metrics, the sweeper), and its row is deleted after ten.
    "HEARTBEAT_SECONDS": env.float("CLASSIFIER_HEARTBEAT_SECONDS", default=10.0),
    # A model version that fails to load is tried again after this long, doubling up to the maximum.
    "LOAD_RETRY_SECONDS": env.float("CLASSIFIER_LOAD_RETRY_SECONDS", default=10.0),
    "LOAD_RETRY_MAX_SECONDS": env.float("CLASSIFIER_LOAD_RETRY_MAX_SECONDS", default=600.0),
    # The longest a training run may take (the training task's time limit). Redis hands an unacknowledged
    # message out again after its visibility timeout, which is kept above this (below), so a long run is
    # never delivered, and trained, a second time.
    "TRAINING_MAX_SECONDS": env.int("CLASSIFIER_TRAINING_MAX_SECONDS", default=6 * 3600),
    # How often Celery beat runs the sweeper (one beat per deployment: the sweeper worker's, `-B`).
    "SWEEP_INTERVAL_SECONDS": env.float("CLASSIFIER_SWEEP_INTERVAL_SECONDS", default=15.0),
    # Webcam sockets: frames a client may have queued at once, and a frame's byte limit.
    "WEBCAM_MAX_IN_FLIGHT": env.int("CLASSIFIER_WEBCAM_MAX_IN_FLIGHT", default=2),
    "WEBCAM_MAX_FRAME_BYTES": env.int("CLASSIFIER_WEBCAM_MAX_FRAME_BYTES", default=2 * 1024 * 1024),
    # A frame with no result after this long gives its in-flight slot back (a lost push must not block a socket).
    "WEBCAM_FRAME_TIMEOUT_SECONDS": env.float("CLASSIFIER_WEBCAM_FRAME_TIMEOUT_SECONDS", default=60.0),
    # Rate limits per signed-in user, or per address: files through the upload form, webcam frames.
    "UPLOAD_RATE": env("CLASSIFIER_UPLOAD_RATE", default="120/min"),
    "WEBCAM_FRAME_RATE": env("CLASSIFIER_WEBCAM_FRAME_RATE", default="30/min"),
    # The HTTP server's own limits (classifier_site/server_limits.py applies them): a request
    # body that stalls this long, or takes longer than the second in all, is dropped; one address may
    # send this many request bodies at once.
    "REQUEST_IDLE_TIMEOUT_SECONDS": env.float("CLASSIFIER_REQUEST_IDLE_TIMEOUT_SECONDS", default=20.0),
    "REQUEST_BODY_TIMEOUT_SECONDS": env.float("CLASSIFIER_REQUEST_BODY_TIMEOUT_SECONDS", default=120.0),
    "MAX_CONCURRENT_UPLOADS_PER_ADDRESS": env.int("CLASSIFIER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS", default=8),
    # Days unreviewed images are kept (0: for ever); reviewed ones, and those an owner corrected, stay.
    "RETENTION_WEBCAM_DAYS": env.int("CLASSIFIER_RETENTION_WEBCAM_DAYS", default=7),
    "RETENTION_UPLOAD_DAYS": env.int("CLASSIFIER_RETENTION_UPLOAD_DAYS", default=90),
    "MODEL_CACHE_DIR": Path(env("CLASSIFIER_MODEL_CACHE_DIR", default=str(VAR_DIR / "model-cache"))),
    # Local copies of training data synced from s3://bucket/prefix.
    "DATASET_CACHE_DIR": Path(env("CLASSIFIER_DATASET_CACHE_DIR", default=str(VAR_DIR / "dataset-cache"))),
    # Bundle imported and activated when no model is active (first start).
    "DEFAULT_MODEL_DIR": Path(env("CLASSIFIER_DEFAULT_MODEL_DIR", default=str(BASE_DIR / "ml" / "demo_model"))),
    # Cameras the capture service watches (`manage.py capture`; README, Cameras).
    "CAMERA_DEFAULT_INTERVAL_SECONDS": env.float("CLASSIFIER_CAMERA_DEFAULT_INTERVAL", default=10.0),
    "CAPTURE_LEASE_SECONDS": env.float("CLASSIFIER_CAPTURE_LEASE_SECONDS", default=30.0),
    "CAPTURE_MAX_CAMERAS": env.int("CLASSIFIER_CAPTURE_MAX_CAMERAS", default=64),
    "CAPTURE_CONNECT_TIMEOUT_SECONDS": env.float("CLASSIFIER_CAPTURE_CONNECT_TIMEOUT", default=10.0),
    "CAPTURE_READ_TIMEOUT_SECONDS": env.float("CLASSIFIER_CAPTURE_READ_TIMEOUT", default=10.0),
    "CAPTURE_BACKOFF_MAX_SECONDS": env.float("CLASSIFIER_CAPTURE_BACKOFF_MAX", default=60.0),
    # Events: a frame this close (dHash bits of 64) to the last stored one of its source is counted, not stored.
    "EVENTS_KEEP_EVERY_FRAME": env.bool("CLASSIFIER_EVENTS_KEEP_EVERY_FRAME", default=False),
    "EVENTS_SIMILAR_BITS": env.int("CLASSIFIER_EVENTS_SIMILAR_BITS", default=4),
    "EVENT_MAX_GAP_SECONDS": env.float("CLASSIFIER_EVENT_MAX_GAP", default=60.0),
    # Alerts: delivery attempts (webhook or e-mail) before one is logged as failed, the first retry's delay
    # (doubling after each), and a webhook's timeout.
    "ALERT_MAX_ATTEMPTS": env.int("CLASSIFIER_ALERT_MAX_ATTEMPTS", default=6),
    "ALERT_RETRY_BACKOFF_SECONDS": env.float("CLASSIFIER_ALERT_RETRY_BACKOFF", default=10.0),
    "ALERT_TIMEOUT_SECONDS": env.float("CLASSIFIER_ALERT_TIMEOUT", default=10.0),
    # The address people open the site at, for links in alerts (e.g. https://classifier.example.com).
    "SITE_URL": env("CLASSIFIER_SITE_URL", default="").rstrip("/"),
}

if REDIS_URL:
    # Above the longest allowed training run, with a margin for the time limit to act and the worker to ack.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = CLASSIFIER["TRAINING_MAX_SECONDS"] + 1800

# Alert e-mails go through Django's mail backend: an smtp://user:password@host:587/?tls=True URL in
# production; the default prints them on the console.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="classifier@localhost")

# How workers run the model: "auto" serves with the fastest runtime whose predictions match
# Keras within 1e-4 (ONNX Runtime, else TensorFlow); "tensorflow" or "onnxruntime" force one.
CLASSIFIER_INFERENCE_RUNTIME = env("CLASSIFIER_INFERENCE_RUNTIME", default="auto")
# TESTS ONLY: seconds every model load sleeps first, so fault tests see a slow-loading model (a
# real one loads for 10 s or more) without training one. Unset (0) outside the tests.
CLASSIFIER_TEST_MODEL_LOAD_DELAY_SECONDS = env.float("CLASSIFIER_TEST_MODEL_LOAD_DELAY_SECONDS", default=0.0)
# Micro-batching: a task also classifies up to this many images waiting behind it, in one model call,
# waiting at most this long for more (0: never wait, so a lone image is answered at once).
CLASSIFIER_BATCH_MAX_SIZE = env.int("CLASSIFIER_BATCH_MAX_SIZE", default=16)
CLASSIFIER_BATCH_MAX_WAIT_MS = env.int("CLASSIFIER_BATCH_MAX_WAIT_MS", default=0)
# "local" runs the active model in each worker; "sagemaker" sends batches to a SageMaker endpoint
# (same result format) through boto3 and the standard AWS credential chain.
CLASSIFIER_INFERENCE_BACKEND = env("CLASSIFIER_INFERENCE_BACKEND", default="local")
CLASSIFIER_SAGEMAKER_ENDPOINT = env("CLASSIFIER_SAGEMAKER_ENDPOINT", default="")
CLASSIFIER_SAGEMAKER_REGION = env("CLASSIFIER_SAGEMAKER_REGION", default=None)
CLASSIFIER_SAGEMAKER_ENDPOINT_URL = env("CLASSIFIER_SAGEMAKER_ENDPOINT_URL", default=None)
# The class names the endpoint's model answers with, in order (comma-separated): activating a version
# with other classes is refused, since the endpoint would go on serving the model it was deployed with.
CLASSIFIER_SAGEMAKER_CLASS_NAMES = env.list("CLASSIFIER_SAGEMAKER_CLASS_NAMES", default=[])

# Django's own upload limit must allow a batch of files at the per-file limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = CLASSIFIER["MAX_UPLOAD_BYTES"] + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "classification.api.authentication.NamedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # JSON whatever the Accept header says (a browser's text/html included); Swagger UI is the HTML view.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "classification.api.negotiation.JsonWhenNothingElseFits",
    "DEFAULT_PERMISSION_CLASSES": ["classification.api.permissions.ReadOrAuthenticatedWrite"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="600/min"),
        "uploads": env("API_THROTTLE_UPLOADS", default="60/min"),
    },
    "EXCEPTION_HANDLER": "classification.api.errors.exception_handler",
}
# Anonymous clients may read; writing (classifying) needs a user unless this is on.
API_ALLOW_ANONYMOUS_WRITES = env.bool("API_ALLOW_ANONYMOUS_WRITES", default=False)

SPECTACULAR_SETTINGS = {
    "TITLE": "Image classifier API",
    "DESCRIPTION": (
        "Classify images, fetch results, browse history and manage model versions.\n\n"
        "**Authentication.** Sign in on the site and make a token on its *API tokens* page "
        "(`/account/tokens/`; the key is shown once), then send it with every request as "
        "`Authorization: Token <key>`. A browser that is signed in may use its session instead "
        "(unsafe requests then need the `X-CSRFToken` header). In Swagger UI, press *Authorize* and "
        "enter `Token <key>` under tokenAuth.\n\n"
        "**Whose results.** Every client sees only its own classifications: its token's user, or "
        "its browser session's uploads; anyone else's is a 404. Users with the view permission on "
        "classifications can list everyone's with `owner=all`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: works offline and under the CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    # No deep links: they put a link inside each operation's button (nested controls, axe's nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "persistAuthorization": True},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security -----------------------------------------------------------------
# HTTPS-only settings follow how the site is served: behind a TLS-terminating proxy, or by
# `make run` with a certificate. Plain HTTP on 127.0.0.1 (`make run` out of the box) must keep
# working, so it gets no redirect and no secure-only cookies. Served over TLS, these defaults pass
# `manage.py check --deploy` (the production settings: docker-compose.yml).
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
SERVED_OVER_TLS = BEHIND_TLS_PROXY or bool(env("TLS_CERT_FILE", default=""))
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=SERVED_OVER_TLS)
# Probes call these over plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if SERVED_OVER_TLS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SERVED_OVER_TLS
# Sessions are kept in the database and read through the cache: every upload reads its visitor's session
# (whose owner key says whose it is), and a cache read costs the web process less than a query. A cache
# that misses (Redis restarting) falls back to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Trust X-Forwarded-Proto only behind a TLS-terminating proxy that sets it.
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Images of a private bucket are shown through presigned URLs on its endpoint.
_image_sources = ["'self'", "data:", "blob:"]
if AWS_STORAGE_BUCKET_NAME:
    _image_sources.append(AWS_S3_ENDPOINT_URL or f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],  # style attributes in admin tables
        "img-src": _image_sources,
        "media-src": ["'self'", "blob:", "mediastream:"],
        "connect-src": ["'self'"],  # includes same-origin ws:// and wss://
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Signed-in users only (pages, images, websockets), for deployments that are not public.
CLASSIFIER_REQUIRE_LOGIN = env.bool("CLASSIFIER_REQUIRE_LOGIN", default=False)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = LOGOUT_REDIRECT_URL = "upload"
if CLASSIFIER_REQUIRE_LOGIN:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "classification.ops.middleware.LoginRequiredMiddleware",
    )

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "matplotlib": {"level": "WARNING"},
                "werkzeug": {"level": "WARNING"}},
}
