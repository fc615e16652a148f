"""The worker's claim (one ``UPDATE … RETURNING``) on SQLite, the database ``make run`` uses by default.

The test database is PostgreSQL; this runs the claim in a child process whose
settings point at a fresh SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO_DIR

CLAIM_SCRIPT = textwrap.dedent(
    """
    import json
    import django
    from django.core.management import call_command
    django.setup()
    call_command("migrate", verbosity=0)
    from django.utils import timezone
    from classification.models import Classification
    from classification.serving import classify, heartbeats

    def row(**fields):
        return Classification.objects.create(image="images/x.jpg", content_hash="0" * 64, original_name="x.jpg",
                                             width=4, height=3, **fields)

    queued = [row() for _ in range(3)]
    done = row(status=Classification.Status.DONE)
    gone = row(status=Classification.Status.RUNNING, worker="elsewhere:1", started_at=timezone.now())
    ids = [r.pk for r in queued + [done, gone]]
    first = classify._claim(list(Classification.objects.filter(pk__in=ids)), timezone.now())
    again = classify._claim(list(Classification.objects.filter(pk__in=ids)), timezone.now())
    mine = sorted(Classification.objects.filter(worker=heartbeats.worker_id()).values_list("pk", flat=True))
    print(json.dumps({"queued": sorted(r.pk for r in queued), "gone": gone.pk, "first": sorted(first),
                      "again": sorted(again), "mine": mine}))
    """
)


def test_a_batch_claims_its_queued_rows_and_a_dead_processs_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "classifier_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'claim.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/13",
    }
    result = subprocess.run([sys.executable, "-c", CLAIM_SCRIPT], cwd=REPO_DIR, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The queued rows and the one a process that never beat holds; not the finished one.
    assert report["first"] == sorted(report["queued"] + [report["gone"]])
    assert report["again"] == []  # now held by this live process: a second delivery takes nothing
    assert report["mine"] == report["first"]
