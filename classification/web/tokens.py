"""The tokens page: a signed-in person makes named API tokens, sees their last use, revokes them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from classification.accounts import tokens


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """GET lists the tokens; POST makes one and shows its key, this one time only."""
    created = key = None
    error = ""
    status = 200
    if request.method == "POST":
        try:
            created, key = tokens.create_token(request.user, request.POST.get("name", ""))
        except tokens.TokenError as exc:
            error, status = str(exc), 400
    context = {"tokens": tokens.tokens_of(request.user), "created": created, "key": key, "error": error}
    response = render(request, "classification/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the new key must not stay in a cache
    return response


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    tokens.revoke(request.user, token_id)  # someone else's token id revokes nothing
    return redirect("api-tokens")
