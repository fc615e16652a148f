"""Every page says which model is serving, and whether it is only the demo."""

from classification.registry import versions


def active_model(request):
    return {"active_model": versions.active_version()}
