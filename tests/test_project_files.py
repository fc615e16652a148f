"""The files people read: README, .env.example, docker-compose.yml, and Django's checks."""

from __future__ import annotations

import json
import re
import shlex

import yaml
from django.core.management import call_command

from classifier_site import serve
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
    assert {"migrate", "web", "worker", "trainer", "alerts", "capture", "redis", "postgres", "minio", "minio-init",
            "proxy"} <= set(services)
    # TLS terminates at the proxy; web is only reachable through it, and trusts its X-Forwarded-Proto.
    assert set(services["proxy"]["ports"]) == {"80:80", "443:443"} and "ports" not in services["web"]
    assert services["web"]["environment"]["DJANGO_BEHIND_TLS_PROXY"] == "true"
    # Workers scale with --scale: no fixed names or published ports. Each replica is a Celery node of its own
    # (%h: its container's host name, which Docker makes unique), and its processes beat as "host:pid".
    assert not {"container_name", "hostname", "ports"} & set(services["worker"])
    assert "--hostname=classify@%h" in services["worker"]["command"]
    assert services["worker"]["command"].startswith("celery -A classifier_site worker")
    assert "--queues=classify " in services["worker"]["command"]
    assert "--queues=classify-training" in services["trainer"]["command"]
    assert "--queues=classify-alerts" in services["alerts"]["command"]
    # The sweeper runs beat on a queue and worker of its own, not behind the classify backlog it checks.
    assert "--queues=classify-sweeper" in services["sweeper"]["command"] and " -B " in services["sweeper"]["command"]
    assert "--pool=solo" in services["sweeper"]["command"] and " -B" not in services["trainer"]["command"]
    # The capture service scales like workers: leases, not names, decide which camera each one reads.
    assert services["capture"]["command"] == "python manage.py capture"
    assert not {"container_name", "ports"} & set(services["capture"])
    for name in ("web", "worker", "trainer", "sweeper", "alerts", "capture"):
        assert services[name]["restart"] == "unless-stopped"  # a killed worker comes back
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
    for volume in ("cache", "pgdata", "miniodata"):
        assert volume in compose["volumes"]
    assert (REPO_DIR / "Dockerfile").is_file()


def test_docker_compose_runs_several_web_processes_behind_the_proxy_after_one_migration():
    compose = yaml.safe_load((REPO_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    # Migrations and the demo model run once, in a one-shot service everything else waits for.
    migrate = services["migrate"]
    assert "manage.py migrate --noinput" in migrate["command"] and "ensure_active_model" in migrate["command"]
    assert migrate["restart"] == "no" and "migrate" not in migrate["depends_on"] and "deploy" not in migrate
    for name in ("web", "worker", "trainer", "sweeper", "alerts", "capture"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert "manage.py migrate" not in services[name]["command"], name
    assert services["migrate"]["environment"] == services["web"]["environment"]
    # The web service is replicated (WEB_PROCESSES, documented) and nothing pins a replica's name or port.
    web = services["web"]
    assert web["deploy"]["replicas"] == "${WEB_PROCESSES:-2}"
    assert not {"container_name", "ports"} & set(web) and web["expose"] == ["8000"]
    # The web process is started as everywhere else (so the server's limits hold), and its options parse.
    command = shlex.split(web["command"])
    assert command[:3] == ["python", "-m", "classifier_site.serve"]
    options = serve.command_line().parse_args(command[3:])
    assert (options.host, options.port, options.proxy_headers) == ("0.0.0.0", 8000, True)
    dockerfile_command = json.loads(re.search(r"^CMD (.+)$", (REPO_DIR / "Dockerfile").read_text(), re.M).group(1))
    assert dockerfile_command[:3] == ["python", "-m", "classifier_site.serve"]
    assert serve.command_line().parse_args(dockerfile_command[3:]).host == "0.0.0.0"
    assert "`WEB_PROCESSES`" in (REPO_DIR / "README.md").read_text()
    assert re.search(r"^# ?WEB_PROCESSES=2$", (REPO_DIR / ".env.example").read_text(), re.M)
    # The proxy balances over every replica Docker's DNS names (one address each), websockets included
    # (Caddy's reverse_proxy upgrades them); tests/test_web_replicas.py runs this file against two processes.
    assert services["proxy"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    caddyfile = (REPO_DIR / "deploy" / "Caddyfile").read_text()
    proxy_block = re.search(r"reverse_proxy \{(.*)\n\t\}", caddyfile, re.S).group(1)
    assert re.search(r"dynamic a \{\s*name \{\$WEB_HOST:web\}\s*port \{\$WEB_PORT:8000\}\s*refresh 5s", proxy_block)
    assert "lb_policy round_robin" in proxy_block and "header_up X-Forwarded-Proto {scheme}" in proxy_block


def test_django_system_checks_are_clean(capsys):
    call_command("check", fail_level="WARNING")
    assert "no issues" in capsys.readouterr().out


def test_migrations_match_the_models(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
