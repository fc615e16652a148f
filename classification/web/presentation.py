"""How pages show labels, confidences and times: one way, the same as the live cards (static/js/present.js).

A template library, built into every template (settings, ``TEMPLATES``), so the admin's too:

- ``{{ c|label_name }}``, ``{{ event|event_label_name }}``: the model version's display name of a label;
- ``{% confidence value %}``: a percentage with a bar, and an "uncertain" badge below the review
  threshold (words, never colour alone);
- ``{% when moment %}``: a ``<time>`` the page's script turns into the visitor's time zone
  (relative when recent); its text without scripts is the server's.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from classification.events.payloads import event_label_name as _event_label_name
from classification.serving.payloads import is_uncertain, label_name as _label_name

register = template.Library()


@register.filter
def label_name(classification) -> str:
    return _label_name(classification.predicted_label, classification.model_version)


@register.filter
def event_label_name(event) -> str:
    return _event_label_name(event)


@register.filter
def display_name_of(label: str, version=None) -> str:
    """``{{ label|display_name_of:version }}``: a bare label's name (the version may be empty)."""
    return _label_name(label, version or None)


@register.filter
def percent(value) -> str:
    return "" if value is None else f"{round(100 * float(value))}%"


@register.inclusion_tag("classification/_confidence.html")
def confidence(value, prefix: str = ""):
    return {"value": value, "percent": percent(value), "uncertain": is_uncertain(value), "prefix": prefix}


@register.simple_tag
def when(moment: datetime | None, empty: str = "—") -> str:
    if not isinstance(moment, datetime):  # None, or a missing attribute (the template's "")
        return empty
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" data-when>{}</time>', moment.isoformat(), date_format(local, "j M Y, H:i")
    )
