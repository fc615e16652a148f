"""Settings for the benchmark's own service: the real settings plus the performance knobs from the environment.

``classifier_site/settings.py`` does not define these yet (the worker reads
them with defaults); the benchmarks need to switch them per run.
"""

from classifier_site.settings import *  # noqa: F401,F403
from classifier_site.settings import env

CLASSIFIER_INFERENCE_RUNTIME = env("CLASSIFIER_INFERENCE_RUNTIME", default="auto")
CLASSIFIER_BATCH_MAX_SIZE = env.int("CLASSIFIER_BATCH_MAX_SIZE", default=16)
CLASSIFIER_BATCH_MAX_WAIT_MS = env.int("CLASSIFIER_BATCH_MAX_WAIT_MS", default=0)

# redis-py 8 reads with a 5 s socket timeout by default, and channels-redis blocks 5 s in BZPOPMIN
# waiting for messages: an idle websocket's receive times out and the socket closes (1011) after
# about 5 s without a message. A read timeout above the blocking one keeps idle sockets open.
if REDIS_URL:  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": 15}]  # noqa: F405
