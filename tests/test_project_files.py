"""The files people read: README, .env.example, docker-compose.yml, and Django's checks."""

from __future__ import annotations

import re

import yaml
from django.core.management import call_command

from tests.conftest import REPO_DIR

SETTINGS_FILE = REPO_DIR / "classifier_site" / "settings.py"


def _settings_variables() -> set[str]:
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', SETTINGS_FILE.read_text()))


def test_readme_opens_with_the_two_commands():
    readme = (REPO_DIR / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]
    assert readme.index("```") < readme.index("## ")  # before any other section
    assert "make test" in (REPO_DIR / ".ci" / "run").read_text()


def test_every_environment_variable_is_documented():
    variables = _settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"} <= variables
    readme = (REPO_DIR / "README.md").read_text()
    example = (REPO_DIR / ".env.example").read_text()
    for name in variables:
        assert f"`{name}`" in readme, f"{name} is missing from the README's table"
        assert re.search(rf"^#? ?{name}=", example, re.M), f"{name} is missing from .env.example"


def test_docker_compose_file_is_a_complete_stack():
    compose = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "trainer", "alerts", "capture", "redis", "postgres", "minio", "minio-init", "proxy"} <= set(services)
    # TLS terminates at the proxy; web is only reachable through it, and trusts its X-Forwarded-Proto.
    assert set(services["proxy"]["ports"]) == {"80:80", "443:443"} and "ports" not in services["web"]
    assert services["web"]["environment"]["DJANGO_BEHIND_TLS_PROXY"] == "true"
    caddyfile = (REPO_DIR / "deploy" / "Caddyfile").read_text()
    assert "reverse_proxy web:8000" in caddyfile
    # Workers scale with --scale: no fixed names or published ports.
    assert not {"container_name", "ports"} & set(services["worker"])
    assert "daphne" in services["web"]["command"] and "classifier_site.asgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A classifier_site worker")
    assert "--queues=classify " in services["worker"]["command"]
    assert "--queues=classify-training" in services["trainer"]["command"]
    assert "--queues=classify-alerts" in services["alerts"]["command"]
    # The capture service scales like workers: leases, not names, decide which camera each one reads.
    assert services["capture"]["command"] == "python manage.py capture"
    assert not {"container_name", "ports"} & set(services["capture"])
    for name in ("web", "worker", "trainer", "alerts", "capture"):
        environment = services[name]["environment"]
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["DATABASE_URL"].startswith("postgres://") and "@postgres:" in environment["DATABASE_URL"]
        assert services[name]["build"] == "."
    assert "mc mb --ignore-existing local/classifier" in services["minio-init"]["entrypoint"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("web", "worker", "trainer", "alerts", "capture"):
        environment = services[name]["environment"]
        assert environment["AWS_STORAGE_BUCKET_NAME"] == "classifier"
        assert environment["AWS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert services["web"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert all("web" in services[name]["depends_on"] for name in ("worker", "trainer", "alerts", "capture"))
    for volume in ("cache", "pgdata", "miniodata"):
        assert volume in compose["volumes"]
    assert (REPO_DIR / "Dockerfile").is_file()


def test_django_system_checks_are_clean(capsys):
    call_command("check", fail_level="WARNING")
    assert "no issues" in capsys.readouterr().out


def test_migrations_match_the_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
