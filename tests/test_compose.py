"""docker-compose.yml, the Dockerfile and deploy/ agree with each other and with jobdeck."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from jobdeck.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
JOBDECK_SUBCOMMANDS = ("migrate", "api", "worker")  # each is also the name of its service
INTERPOLATION = re.compile(r"\$\{[A-Za-z_]\w*(?::?[-?+][^}]*)?\}")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PWD")


def env(name: str) -> dict[str, str]:
    raw = SERVICES[name].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    return {variable: "" if value is None else str(value) for variable, value in raw.items()}


def ports(name: str) -> list[tuple[int | None, int]]:
    """(published host port or None, container port) of each `ports` entry."""
    pairs: list[tuple[int | None, int]] = []
    for spec in SERVICES[name].get("ports", []):
        if isinstance(spec, dict):
            pairs.append((int(spec["published"]) if "published" in spec else None, spec["target"]))
        else:
            parts = str(spec).split("/")[0].rsplit(":", 2)
            pairs.append((int(parts[-2]) if len(parts) > 1 else None, int(parts[-1])))
    return pairs


def mounts(name: str) -> list[tuple[str, str]]:
    """(source, target) of each `volumes` entry."""
    specs = SERVICES[name].get("volumes", [])
    return [
        (s["source"], s["target"]) if isinstance(s, dict) else (s.split(":")[0], s.split(":")[1])
        for s in specs
    ]


def mounted_file(name: str, under: str) -> str:
    sources = [source for source, target in mounts(name) if target.startswith(under)]
    assert len(sources) == 1, f"{name}: expected one file mounted under {under}"
    return (ROOT / sources[0]).read_text()


def dockerfile_json(instruction: str) -> list[str]:
    """The final stage's exec-form ENTRYPOINT or CMD."""
    found = re.findall(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE, re.M)
    assert found, f"Dockerfile has no exec-form {instruction}"
    return list(json.loads(found[-1]))


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name


def test_depends_on_existing_services_and_healthy_only_with_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on") or {}
        for dependency in depends_on:
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            spec = depends_on[dependency] if isinstance(depends_on, dict) else None
            if (spec or {}).get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits on {dependency}"


def test_api_and_worker_share_image_settings_and_data() -> None:
    api, worker = SERVICES["api"], SERVICES["worker"]
    assert (api.get("image"), api.get("build")) == (worker.get("image"), worker.get("build"))
    for setting in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "DATA_DIR"):
        assert env("api")[f"JOBDECK_{setting}"] == env("worker")[f"JOBDECK_{setting}"], setting
    assert mounts("api") == mounts("worker")
    assert ("jobdeck-data", env("api")["JOBDECK_DATA_DIR"]) in mounts("api")


def test_database_url_names_a_database_and_role_of_the_postgres_init() -> None:
    url = urlsplit(env("api")["JOBDECK_DATABASE_URL"])
    assert url.scheme == "postgresql+asyncpg" and url.port == 5432
    host = str(url.hostname)
    assert str(SERVICES[host]["image"]).startswith("postgres:")
    init = mounted_file(host, "/docker-entrypoint-initdb.d/")
    databases = set(re.findall(r"CREATE DATABASE (\w+)", init)) | {env(host)["POSTGRES_DB"]}
    assert url.path.lstrip("/") in databases
    assert url.username in re.findall(r"CREATE ROLE (\w+)", init)
    assert INTERPOLATION.fullmatch(url.password or ""), "literal password in the database URL"
    assert {env("temporal")["DBNAME"], env("temporal")["VISIBILITY_DBNAME"]} <= databases


def test_every_temporal_address_is_the_temporal_frontend() -> None:
    address = env("api")["JOBDECK_TEMPORAL_ADDRESS"]
    host, port = address.rsplit(":", 1)
    assert str(SERVICES[host]["image"]).startswith("temporalio/")
    assert int(port) == int(env(host).get("FRONTEND_GRPC_PORT", "7233"))
    clients = [name for name in SERVICES if "TEMPORAL_ADDRESS" in env(name)]
    assert "temporal-ui" in clients
    for name in clients:
        assert env(name)["TEMPORAL_ADDRESS"] == address, name
    assert env("temporal-namespace")["NAMESPACE"] == env("api")["JOBDECK_TEMPORAL_NAMESPACE"]


def test_no_two_services_publish_the_same_host_port() -> None:
    published = [host for name in SERVICES for host, _ in ports(name) if host is not None]
    assert published and len(published) == len(set(published))


def test_proxy_forwards_its_published_port_to_the_api_port() -> None:
    assert not ports("api"), "replicas can't share a published port"
    conf = mounted_file("proxy", "/etc/nginx/")
    listening = {int(port) for port in re.findall(r"^\s*listen\s+(?:\S+:)?(\d+)", conf, re.M)}
    assert {container for _, container in ports("proxy")} <= listening
    upstreams = set(re.findall(r"^\s*server\s+([\w.-]+):(\d+)", conf, re.M))
    assert upstreams == {("api", env("api")["JOBDECK_API_PORT"])}
    websocket = conf.split("location /ws/", 1)[1].split("}", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade" in websocket
    assert "proxy_set_header Connection" in websocket


def test_jobdeck_variables_are_settings_and_secrets_are_interpolated() -> None:
    known = {f"JOBDECK_{field.upper()}" for field in Settings.model_fields}
    for name in SERVICES:
        for variable, value in env(name).items():
            if variable.startswith("JOBDECK_"):
                assert variable in known, f"{name}: {variable} is not a jobdeck setting"
            if any(word in variable for word in SECRET_WORDS):
                assert INTERPOLATION.fullmatch(value), f"{name}: {variable} is a literal"


def test_services_run_subcommands_of_the_dockerfile_entrypoint() -> None:
    assert dockerfile_json("ENTRYPOINT") == ["jobdeck"]
    assert "jobdeck" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name in JOBDECK_SUBCOMMANDS:
        service = SERVICES[name]
        assert "build" in service and "entrypoint" not in service, name
        command = service.get("command", dockerfile_json("CMD"))
        assert (command.split() if isinstance(command, str) else command)[0] == name


def test_named_volumes_configs_and_mounted_files_exist() -> None:
    for name, service in SERVICES.items():
        for source, _ in mounts(name):
            if source.startswith((".", "/")):
                assert (ROOT / source).is_file(), f"{name} mounts missing {source}"
            else:
                assert source in (COMPOSE.get("volumes") or {}), f"{name}: volume {source}"
        for config in service.get("configs", []):
            source = config["source"] if isinstance(config, dict) else config
            assert source in (COMPOSE.get("configs") or {}), f"{name}: config {source}"


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    assert re.search(r"^COPY\s.*\bpyproject\.toml\b", DOCKERFILE, re.M)
    assert re.search(r"\bpip install\b.*\s\.\s*$", DOCKERFILE, re.M)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users and users[-1] not in {"root", "0"}


def test_training_runs_on_the_trainer_only() -> None:
    trainer, worker = SERVICES["trainer"], SERVICES["worker"]
    assert trainer["command"] == ["worker"]
    assert trainer["build"]["args"]["EXTRAS"] == "training"
    assert (
        "training"
        in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    assert re.search(r"^ARG EXTRAS=", DOCKERFILE, re.M)
    assert trainer["image"] != worker["image"]  # the extra makes a different image
    assert env("trainer")["JOBDECK_WORKER_TRAINING"] == "on"
    assert env("worker")["JOBDECK_WORKER_TRAINING"] == "off"
    assert int(env("trainer")["JOBDECK_TRAINING_SLOTS"]) >= 1
    for setting in ("DATABASE_URL", "TEMPORAL_ADDRESS", "TASK_QUEUE", "DATA_DIR"):
        assert env("trainer")[f"JOBDECK_{setting}"] == env("api")[f"JOBDECK_{setting}"]
    assert mounts("trainer") == mounts("api")  # the API serves the adapters it writes
