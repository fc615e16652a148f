"""Settings for the benchmarks' own service: the project's settings, unchanged.

A separate module so benchmark runs can add overrides without touching the
project's settings; today they need none.
"""

from classifier_site.settings import *  # noqa: F401,F403
