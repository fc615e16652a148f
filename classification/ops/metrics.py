"""Prometheus metrics at /metrics.

Request latency is measured in the web process as requests pass. Everything
else is read at scrape time from the shared state (database, Redis), so every
web process reports the same numbers however many workers there are, and no
worker needs a metrics port of its own.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from classification import queueing
from classification.models import Classification, ModelVersion, WorkerProcess

REGISTRY = CollectorRegistry()

REQUEST_LATENCY = Histogram(
    "classifier_http_request_duration_seconds",
    "Web request latency, by method, view and status.",
    ["method", "view", "status"],
    registry=REGISTRY,
)

PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECENT = timedelta(hours=1)


def observe_request(method: str, view: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(method, view, str(status)).observe(seconds)


class ServiceCollector:
    """Classifications, queue depth, processing time and serving workers, read at scrape time."""

    def collect(self):
        by_label = CounterMetricFamily(
            "classifier_classifications", "Stored classifications by predicted label, status and source.",
            labels=["label", "status", "source"],
        )
        rows = Classification.objects.values("predicted_label", "status", "source").annotate(n=Count("id"))
        for row in rows:
            by_label.add_metric([row["predicted_label"] or "none", row["status"], row["source"]], row["n"])
        yield by_label

        depth = GaugeMetricFamily("classifier_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"])
        try:
            for queue, count in queueing.queue_depths().items():
                depth.add_metric([queue], count)
        except Exception:  # a scrape must not fail because Redis is briefly away
            pass
        yield depth

        yield self._processing_histogram()

        active = ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True).first()
        live = WorkerProcess.objects.live()
        serving = GaugeMetricFamily(
            "classifier_worker_processes_serving_active_model",
            "Live classify processes (heartbeat within three beats) that loaded the active model.",
        )
        serving.add_metric([], live.filter(role="classify", model_version_id=active).count() if active else 0)
        yield serving
        processes = GaugeMetricFamily("classifier_worker_processes", "Live worker processes, by role.", labels=["role"])
        counts = dict(live.values_list("role").annotate(n=Count("id")))
        for role in WorkerProcess.Role.values:
            processes.add_metric([role], counts.get(role, 0))
        yield processes

    @staticmethod
    def _processing_histogram() -> HistogramMetricFamily:
        """Seconds from a worker starting a classification to its result (read + inference), last hour.

        Counted by the database in one aggregate query, so a scrape costs the
        same however many classifications the hour held.
        """
        since = timezone.now() - RECENT
        rows = Classification.objects.filter(status="done", finished_at__gte=since, started_at__isnull=False)
        rows = rows.annotate(seconds=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
        counts = rows.aggregate(
            total=Sum("seconds"),
            all=Count("pk"),
            **{f"le_{i}": Count("pk", filter=Q(seconds__lte=timedelta(seconds=bound)))
               for i, bound in enumerate(PROCESSING_BUCKETS)},
        )
        buckets = [(str(bound), counts[f"le_{i}"]) for i, bound in enumerate(PROCESSING_BUCKETS)]
        buckets.append(("+Inf", counts["all"]))
        total = counts["total"].total_seconds() if counts["total"] else 0.0
        family = HistogramMetricFamily(
            "classifier_classification_seconds",
            "Worker time per classification over the last hour (image read and inference).",
        )
        family.add_metric([], buckets, sum_value=total)
        return family


REGISTRY.register(ServiceCollector())


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
