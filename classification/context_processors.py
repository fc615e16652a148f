"""Every page says which model is serving, and whether it is only the demo."""

from classification import model_registry


def active_model(request):
    return {"active_model": model_registry.active_version()}
