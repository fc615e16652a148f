"""The API tokens page: named tokens, shown once, stored as hashes, last use shown, revoked; and the docs say how."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from classification.models import ApiToken
from tests.test_api import fresh_throttle_cache  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("dora", password="pw-dora-123"))
    return client


def _create(client: Client, name: str) -> str:
    page = client.post(reverse("api-tokens"), {"name": name})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    return re.search(r'<code class="token-key" id="token-key">([^<]+)</code>', page.content.decode()).group(1)


def test_a_signed_in_user_makes_names_uses_and_revokes_tokens(signed_in, django_user_model):
    key = _create(signed_in, "door camera script")
    other = _create(signed_in, "laptop")
    token = ApiToken.objects.get(name="door camera script")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in token.key_hash
    assert not ApiToken.objects.filter(key_hash=key).exists()  # only the hash is kept
    listing = signed_in.get(reverse("api-tokens")).content.decode()
    assert key not in listing and other not in listing  # shown once, never again
    assert "door camera script" in listing and f"{key[:8]}…" in listing and "never" in listing

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/classifications/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    # Shown as a <time> the page writes in the visitor's zone (classification/web/presentation.py).
    assert f'<time datetime="{token.last_used_at.isoformat()}" data-when>' in signed_in.get(reverse("api-tokens")).content.decode()

    assert signed_in.post(reverse("api-token-revoke", args=[token.pk])).status_code == 302
    refused = api.get("/api/v1/classifications/")
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "Invalid token."
    laptop = APIClient()
    laptop.credentials(HTTP_AUTHORIZATION=f"Token {other}")
    assert laptop.get("/api/v1/classifications/").status_code == 200  # the others keep working


def test_nobody_revokes_or_sees_someone_else_s_tokens(signed_in, django_user_model):
    _create(signed_in, "mine")
    stranger = Client()
    stranger.force_login(django_user_model.objects.create_user("eve"))
    token = ApiToken.objects.get()
    assert "mine" not in stranger.get(reverse("api-tokens")).content.decode()
    stranger.post(reverse("api-token-revoke", args=[token.pk]))
    assert ApiToken.objects.filter(pk=token.pk).exists()
    anonymous = Client().get(reverse("api-tokens"))
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]


def test_a_token_needs_a_name(signed_in):
    page = signed_in.post(reverse("api-tokens"), {"name": "   "})
    assert page.status_code == 400 and "Give the token a name" in page.content.decode()
    assert not ApiToken.objects.exists()


def test_navigation_links_the_api_docs_and_the_docs_explain_authentication(signed_in, client):
    page = signed_in.get(reverse("history")).content.decode()
    assert f'href="{reverse("api-docs")}"' in page and f'href="{reverse("api-tokens")}"' in page
    assert f'href="{reverse("api-docs")}"' in client.get(reverse("upload")).content.decode()  # anonymous too
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    description = schema["info"]["description"]
    assert "Authorization: Token <key>" in description and "/account/tokens/" in description
    assert "owner=all" in description
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


def test_create_api_token_prints_a_working_key(django_user_model, capsys):
    from django.core.management import call_command

    django_user_model.objects.create_user("scripted")
    call_command("create_api_token", "scripted", "--name", "cron")
    key = capsys.readouterr().out.strip()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/classifications/").status_code == 200
    assert ApiToken.objects.get().name == "cron"


@pytest.mark.django_db(transaction=True)
def test_tokens_made_by_drf_create_token_keep_working_as_hashes(django_user_model):
    """Migration 0012: DRF's plain-text tokens (when its table exists) become hashed named tokens."""
    executor = MigrationExecutor(connection)
    before = [("classification", "0011_public_id_unique")]
    executor.migrate(before)
    user = django_user_model.objects.create_user("legacy")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL, "
                       "user_id integer NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", ["a" * 40, user.pk])
    try:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([key for key in executor.loader.graph.leaf_nodes() if key[0] == "classification"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain-text key is left
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {'a' * 40}")
    assert api.get("/api/v1/classifications/").status_code == 200
    assert ApiToken.objects.get().user == user
