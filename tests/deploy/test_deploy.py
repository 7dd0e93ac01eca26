"""deploy/ agrees with the package: setting names, port, console script, image layout, Ray
version, health probes. Plain file parsing; no Docker, Compose or Kubernetes needed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from sequencer.api.settings import DEFAULT_PORT, Settings
from sequencer.evidence.load import DEFAULT_PRIORS_DIR

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
KUBERAY = DEPLOY / "kuberay.yaml"
ENV_EXAMPLE = DEPLOY / "service.env.example"
README = DEPLOY / "README.md"
YAML_FILES = sorted(DEPLOY.glob("*.yaml")) + sorted(DEPLOY.glob("*.yml"))
SETTING_FILES = [DOCKERFILE, COMPOSE, KUBERAY, ENV_EXAMPLE, README]

RAY_CLIENT_DEFAULT_PORT = 10001  # `ray start --head` default for --ray-client-server-port
RAY_GCS_DEFAULT_PORT = 6379


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the package side ---------------------------------------------------------------------------

@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@cache
def ray_pin() -> str:
    for dep in pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"ray(?:\[[^\]]*\])?\s*==\s*([\w.]+)", dep.strip())
        if match:
            return match.group(1)
    raise AssertionError("pyproject.toml: no exact `ray==X` pin in [project].dependencies")


@cache
def project_folders_used_by_the_package() -> dict[str, str]:
    """Top-level project folders the package reads relative to its own source
    (``Path(__file__)...parents[N] / "priors"``), e.g. DEFAULT_PRIORS_DIR, DEFAULT_POLICIES.
    Read from the source text: importing those modules would take seconds."""
    found = {}
    for module in sorted((ROOT / "sequencer").rglob("*.py")):
        text = module.read_text(encoding="utf-8")
        for depth, first in re.findall(r"parents\[(\d+)\]\s*/\s*[\"']([^\"']+)[\"']", text):
            base = module.resolve().parents[int(depth)]
            assert base == ROOT, f"{rel(module)}: parents[{depth}] is {base}, not the project root"
            found.setdefault(PurePosixPath(first).parts[0], rel(module))
    return found


@cache
def _field_names() -> dict[str, tuple[str, ...]]:
    """Per Settings field, the environment variables it reads (env_prefix + field name, or its
    aliases), upper-case, the one the deploy files should use first."""
    prefix = Settings.model_config.get("env_prefix", "")
    out = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names = [c for c in alias.choices if isinstance(c, str)]
        elif isinstance(alias, str):
            names = [alias]
        else:  # None or an AliasPath: the prefixed field name
            names = [f"{prefix}{name}"]
        out[name] = tuple(n.upper() for n in names)
    return out


def setting_names() -> frozenset[str]:
    """Every environment variable Settings reads."""
    return frozenset(n for names in _field_names().values() for n in names)


def primary_names() -> set[str]:
    """One name per Settings field: the one the deploy files should use."""
    return {names[0] for names in _field_names().values()}


def validate_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the service would build them from exactly ``env``."""
    for var in list(os.environ):
        if var.upper() in setting_names():
            monkeypatch.delenv(var)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


# --- the Dockerfile -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # -1 before the first FROM
    line: int


@cache
def dockerfile() -> tuple[Instruction, ...]:
    out, stage, buf, start = [], -1, "", 0
    for number, raw in enumerate(DOCKERFILE.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may also sit inside a continued instruction
        if not buf:
            start = number
        buf += " " + stripped.removesuffix("\\")
        if stripped.endswith("\\"):
            continue
        keyword, _, args = buf.strip().partition(" ")
        keyword = keyword.upper()
        stage += keyword == "FROM"
        out.append(Instruction(keyword, args.strip(), stage, start))
        buf = ""
    return tuple(out)


def instructions(keyword: str, stage: int | None = None) -> list[Instruction]:
    return [i for i in dockerfile()
            if i.keyword == keyword and (stage is None or i.stage == stage)]


def final_stage() -> int:
    return max(i.stage for i in dockerfile())


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def copy_args(instr: Instruction) -> tuple[dict[str, str], list[str], str]:
    words = shlex.split(instr.args)
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


def image_env() -> dict[str, str]:
    env = {}
    for instr in instructions("ENV", final_stage()):
        for word in shlex.split(instr.args):
            key, sep, value = word.partition("=")
            assert sep, f"{rel(DOCKERFILE)}:{instr.line}: write ENV as KEY=value, got {word!r}"
            env[key] = value
    return env


def dockerfile_cmd() -> list[str]:
    cmds = instructions("CMD", final_stage())
    assert cmds, f"{rel(DOCKERFILE)}: the runtime stage has no CMD"
    return exec_form(cmds[-1].args)


def option(argv: list[str], name: str) -> str | None:
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


# --- dockerignore (Docker's rules: a pattern matches a path or any of its parents; last wins) ---

@cache
def dockerignore() -> tuple[tuple[bool, re.Pattern], ...]:
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i:end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex)))
    return tuple(rules)


def ignored(path: str) -> bool:
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negate, regex in dockerignore():
        if any(regex.fullmatch(c) for c in candidates):
            result = not negate
    return result


# --- YAML ---------------------------------------------------------------------------------------

@cache
def yaml_docs(path: Path) -> tuple:
    with path.open(encoding="utf-8") as handle:
        return tuple(doc for doc in yaml.safe_load_all(handle) if doc is not None)


def compose() -> dict:
    (doc,) = yaml_docs(COMPOSE)
    return doc


def compose_service(name: str) -> dict:
    services = compose().get("services", {})
    assert name in services, f"{rel(COMPOSE)}: services.{name} is missing"
    return services[name]


def compose_env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_argv(command) -> list[str]:
    return list(map(str, command)) if isinstance(command, list) else shlex.split(command)


def interpolate(value: str, required: dict[str, str]) -> str:
    """Compose ``${VAR:-default}`` / ``${VAR:?message}`` with no variables set."""
    def sub(match: re.Match) -> str:
        name, op, rest = match.groups()
        if op and op.endswith("?"):
            return required[name]
        return rest or ""
    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", sub, value)


def kube_docs(kind: str) -> list[dict]:
    return [d for d in yaml_docs(KUBERAY) if d.get("kind") == kind]


def ray_cluster_spec() -> tuple[str, dict]:
    """(name, RayCluster spec): a RayCluster, or a RayService's rayClusterConfig."""
    for doc in yaml_docs(KUBERAY):
        if doc.get("kind") == "RayCluster":
            return doc["metadata"]["name"], doc["spec"]
        if doc.get("kind") == "RayService":
            return doc["metadata"]["name"], doc["spec"]["rayClusterConfig"]
    raise AssertionError(f"{rel(KUBERAY)}: no RayCluster or RayService document")


def api_deployment() -> tuple[dict, dict]:
    """(Deployment, its container) serving the API on DEFAULT_PORT."""
    for doc in kube_docs("Deployment"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            ports = [p.get("containerPort") for p in container.get("ports", [])]
            if DEFAULT_PORT in ports:
                return doc, container
    raise AssertionError(f"{rel(KUBERAY)}: no Deployment with a container port {DEFAULT_PORT}")


def resolve_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"{rel(KUBERAY)}: container {container['name']} has no port {port!r}")


# === tests ======================================================================================

@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_yaml_files_parse(path):
    docs = yaml_docs(path)
    assert docs, f"{rel(path)}: no YAML documents"
    assert all(isinstance(d, dict) for d in docs), f"{rel(path)}: a document is not a mapping"


def test_expected_files_exist():
    for path in (DOCKERFILE, DOCKERIGNORE, COMPOSE, KUBERAY, ENV_EXAMPLE, README):
        assert path.is_file(), f"{rel(path)} is missing"


# --- Dockerfile ---

def test_dockerfile_is_multi_stage_on_python_slim():
    froms = instructions("FROM")
    assert len(froms) >= 2, (f"{rel(DOCKERFILE)}: {len(froms)} FROM line(s); expected a builder "
                             "and a runtime stage")
    args = {}
    for instr in instructions("ARG", -1):
        key, _, value = instr.args.partition("=")
        args[key.strip()] = value.strip()
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)),
                  froms[-1].args.split()[0])
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:\w+)?", base), (
        f"{rel(DOCKERFILE)}:{froms[-1].line}: runtime stage FROM {base!r}, "
        "expected python:3.11-slim")
    sources = [copy_args(i)[0].get("from") for i in instructions("COPY", final_stage())]
    assert any(sources), f"{rel(DOCKERFILE)}: the runtime stage copies nothing from the builder"


def test_dockerfile_runs_as_non_root():
    users = instructions("USER", final_stage())
    assert users, f"{rel(DOCKERFILE)}: no USER in the runtime stage (it would run as root)"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}, f"{rel(DOCKERFILE)}:{users[-1].line}: USER {users[-1].args}"


def test_dockerfile_exposes_the_service_port():
    exposed = {int(p.split("/")[0]) for i in instructions("EXPOSE", final_stage())
               for p in i.args.split()}
    assert DEFAULT_PORT in exposed, (
        f"{rel(DOCKERFILE)}: EXPOSE {sorted(exposed)}, "
        f"sequencer.api.settings.DEFAULT_PORT is {DEFAULT_PORT}")
    port = image_env().get("SEQUENCER_PORT")
    assert port in (None, str(DEFAULT_PORT)), f"{rel(DOCKERFILE)}: ENV SEQUENCER_PORT={port}"


def test_dockerfile_cmd_serves_through_the_console_script():
    cmd = dockerfile_cmd()
    scripts = pyproject()["project"].get("scripts", {})
    assert cmd[0] in scripts, (
        f"{rel(DOCKERFILE)}: CMD starts with {cmd[0]!r}, not a [project.scripts] entry "
        f"({sorted(scripts)})")
    assert cmd[1:2] == ["serve"], (
        f"{rel(DOCKERFILE)}: CMD {cmd} does not run the `serve` subcommand")
    assert option(cmd, "--port") in (None, str(DEFAULT_PORT)), f"{rel(DOCKERFILE)}: CMD --port"
    assert option(cmd, "--host") == "0.0.0.0", (
        f"{rel(DOCKERFILE)}: CMD must bind 0.0.0.0 inside a container (--host), "
        f"got {option(cmd, '--host')}")


def test_serve_subcommand_accepts_the_cmd_options():
    import typer.main

    from sequencer.cli import app

    group = typer.main.get_command(app)
    if "serve" not in getattr(group, "commands", {}):
        pytest.skip("`sequencer serve` is not registered in sequencer.cli yet")
    known = {opt for param in group.commands["serve"].params for opt in param.opts}
    used = {word for word in dockerfile_cmd()[2:] if word.startswith("--")}
    assert used <= known, (
        f"{rel(DOCKERFILE)}: CMD passes {sorted(used - known)}, unknown to `sequencer serve`")


def test_dockerfile_healthcheck_hits_healthz_on_the_port():
    checks = instructions("HEALTHCHECK", final_stage())
    assert checks, f"{rel(DOCKERFILE)}: no HEALTHCHECK"
    assert f":{DEFAULT_PORT}/healthz" in checks[-1].args, (
        f"{rel(DOCKERFILE)}:{checks[-1].line}: HEALTHCHECK must request :{DEFAULT_PORT}/healthz")
    assert "curl" not in checks[-1].args and "wget" not in checks[-1].args, (
        f"{rel(DOCKERFILE)}: HEALTHCHECK uses a tool the slim image does not have")


def test_image_defaults_to_production():
    assert image_env().get("SEQUENCER_ENVIRONMENT") == "production", (
        f"{rel(DOCKERFILE)}: ENV SEQUENCER_ENVIRONMENT must be production so real keys are "
        "required")
    assert "SEQUENCER_API_KEYS" not in image_env(), (
        f"{rel(DOCKERFILE)}: API keys baked into the image")


def test_image_layout_matches_where_the_package_looks():
    """The package finds priors/, parameters.yaml and policies/ at parents[2] of its source, so
    the image must hold them beside the sequencer/ folder Python imports."""
    folders = project_folders_used_by_the_package()
    assert {"priors", "policies"} <= folders.keys(), f"package data folders found: {folders}"
    dests = {}
    for instr in instructions("COPY", final_stage()):
        _, sources, dest = copy_args(instr)
        for src in sources:
            dests[PurePosixPath(src).name] = PurePosixPath(dest.rstrip("/"))
    assert "sequencer" in dests, f"{rel(DOCKERFILE)}: the runtime stage does not copy sequencer/"
    app_root = dests["sequencer"].parent
    for top, module in folders.items():
        assert dests.get(top) == app_root / top, (
            f"{rel(DOCKERFILE)}: runtime COPY of {top}/ goes to {dests.get(top)}; {module} "
            f"looks in {app_root / top}")
    priors_env = image_env().get("SEQUENCER_PRIORS_DIR")
    assert priors_env == str(app_root / DEFAULT_PRIORS_DIR.relative_to(ROOT)), (
        f"{rel(DOCKERFILE)}: ENV SEQUENCER_PRIORS_DIR={priors_env}, the priors are copied to "
        f"{app_root / 'priors'}")
    installs = [i.args for i in instructions("RUN") if "pip install" in i.args]
    assert any(re.search(r"pip install\b.*(\s-e\s|--editable)", a) for a in installs), (
        f"{rel(DOCKERFILE)}: sequencer must be installed editable from {app_root} "
        "(a site-packages install breaks the parents[2] lookups)")
    assert any("requirements/constraints.txt" in a for a in installs), (
        f"{rel(DOCKERFILE)}: dependencies must be installed with -c requirements/constraints.txt")


def test_committed_posterior_goes_into_the_image():
    posterior = DEFAULT_PRIORS_DIR / "posterior.nc"
    assert posterior.is_file(), f"{posterior} is missing"
    relpath = rel(posterior)
    if shutil.which("git") and (ROOT / ".git").exists():
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", relpath], cwd=ROOT,
                                 check=False, capture_output=True, text=True)
        assert tracked.returncode == 0, f"{relpath} is not tracked by git: {tracked.stderr.strip()}"
    assert not ignored(relpath), f"{rel(DOCKERIGNORE)} excludes {relpath} from the build context"
    for instr in instructions("COPY"):
        flags, sources, _ = copy_args(instr)
        for src in sources if "from" not in flags else []:
            assert not ignored(src.rstrip("/")), (
                f"{rel(DOCKERIGNORE)} excludes {src}, which {rel(DOCKERFILE)}:{instr.line} copies")
    for secret in (".git", "deploy/service.env", ".venv", "runs", "sequencer/__pycache__"):
        assert ignored(secret), f"{rel(DOCKERIGNORE)} lets {secret} into the build context"


# --- settings names everywhere ---

@pytest.mark.parametrize("path", SETTING_FILES, ids=lambda p: p.name)
def test_every_sequencer_variable_is_a_real_setting(path):
    text = path.read_text(encoding="utf-8")
    used = set(re.findall(r"\bSEQUENCER_[A-Z0-9_]*[A-Z0-9]\b", text))
    unknown = sorted(used - setting_names())
    assert not unknown, (
        f"{rel(path)}: {unknown} are not fields of sequencer.api.settings.Settings "
        f"(known: {sorted(setting_names())})")


def env_example() -> list[tuple[int, str, str]]:
    out = []
    for number, raw in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{rel(ENV_EXAMPLE)}:{number}: not KEY=value: {line!r}"
            out.append((number, key.strip(), value))
    return out


def test_env_example_documents_every_setting():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    keys = {key for _, key, _ in env_example()}
    unknown = sorted(keys - setting_names())
    assert not unknown, f"{rel(ENV_EXAMPLE)}: {unknown} are not Settings fields"
    missing = sorted(primary_names() - keys)
    assert not missing, f"{rel(ENV_EXAMPLE)}: settings without an example line: {missing}"
    for number, key, _ in env_example():
        block = []
        for line in reversed(lines[:number - 1]):
            if not line.strip():
                break
            block.append(line)
        assert any(b.lstrip().startswith("#") for b in block), (
            f"{rel(ENV_EXAMPLE)}:{number}: {key} has no comment above it")


def test_env_example_is_valid_but_refuses_its_placeholder_key(monkeypatch):
    env = {key: value for _, key, value in env_example()}
    with pytest.raises(ValueError, match="SEQUENCER_API_KEYS"):
        validate_settings(env, monkeypatch)
    env["SEQUENCER_API_KEYS"] = json.dumps(["a-real-looking-test-key-0123456789"])
    settings = validate_settings(env, monkeypatch)
    assert settings.environment == "production", f"{rel(ENV_EXAMPLE)}: SEQUENCER_ENVIRONMENT"
    assert settings.port == DEFAULT_PORT, f"{rel(ENV_EXAMPLE)}: SEQUENCER_PORT"


def test_readme_lists_every_setting():
    text = README.read_text(encoding="utf-8")
    missing = sorted(n for n in primary_names() if f"`{n}`" not in text)
    assert not missing, f"{rel(README)}: the settings table lacks {missing}"


# --- Ray version ---

@pytest.mark.parametrize("path", [DOCKERFILE, COMPOSE, KUBERAY], ids=lambda p: p.name)
def test_ray_version_matches_pyproject(path):
    text = path.read_text(encoding="utf-8")
    stated = re.findall(r"\bray(?:\[[^\]]*\])?==([0-9][\w.]*)", text)
    stated += re.findall(r"rayproject/ray(?:-ml)?:([0-9][0-9.]*\d)", text)
    stated += re.findall(r"""rayVersion:\s*["']?([\w.]+)""", text)
    wrong = sorted(set(stated) - {ray_pin()})
    assert not wrong, f"{rel(path)}: Ray version(s) {wrong}; pyproject.toml pins ray=={ray_pin()}"


# --- compose ---

def test_compose_has_api_and_ray_services():
    for name in ("api", "ray-head", "ray-worker"):
        compose_service(name)


def test_compose_services_share_the_project_image():
    api = compose_service("api")
    build = api.get("build", {})
    assert (COMPOSE.parent / build.get("context", ".")).resolve() == ROOT, (
        f"{rel(COMPOSE)}: services.api.build.context must be the repository root")
    assert (ROOT / build.get("dockerfile", "")).resolve() == DOCKERFILE, (
        f"{rel(COMPOSE)}: services.api.build.dockerfile must be deploy/Dockerfile")
    for name in ("ray-head", "ray-worker"):
        svc = compose_service(name)
        assert svc.get("image") == api.get("image") and svc.get("build") == build, (
            f"{rel(COMPOSE)}: services.{name} must run the api's image (same code on every node)")


def test_compose_api_publishes_the_port_and_runs_serve():
    api = compose_service("api")
    published = set()
    for port in api.get("ports", []):
        if isinstance(port, dict):
            published.add((str(port.get("published")), str(port.get("target"))))
        else:
            *_, host, target = str(port).split(":")
            published.add((host, target.split("/")[0]))
    assert (str(DEFAULT_PORT), str(DEFAULT_PORT)) in published, (
        f"{rel(COMPOSE)}: services.api.ports {api.get('ports')} does not publish {DEFAULT_PORT}")
    if "command" in api:
        assert command_argv(api["command"]) == dockerfile_cmd(), (
            f"{rel(COMPOSE)}: services.api.command differs from the Dockerfile CMD")


def test_compose_healthchecks():
    for name in ("api", "ray-head", "ray-worker"):
        assert "test" in compose_service(name).get("healthcheck", {}), (
            f"{rel(COMPOSE)}: services.{name}.healthcheck.test is missing")
    test = " ".join(command_argv(compose_service("api")["healthcheck"]["test"]))
    assert f":{DEFAULT_PORT}/healthz" in test, (
        f"{rel(COMPOSE)}: services.api.healthcheck must request :{DEFAULT_PORT}/healthz")


def test_compose_ray_address_reaches_the_head():
    head = command_argv(compose_service("ray-head")["command"])
    worker = command_argv(compose_service("ray-worker")["command"])
    assert head[:2] == ["ray", "start"] and "--head" in head and "--block" in head, (
        f"{rel(COMPOSE)}: services.ray-head.command must be `ray start --head ... --block`")
    gcs = int(option(head, "--port") or RAY_GCS_DEFAULT_PORT)
    client = int(option(head, "--ray-client-server-port") or RAY_CLIENT_DEFAULT_PORT)
    assert worker[:2] == ["ray", "start"] and "--block" in worker, (
        f"{rel(COMPOSE)}: services.ray-worker.command must be `ray start --address=... --block`")
    assert option(worker, "--address") == f"ray-head:{gcs}", (
        f"{rel(COMPOSE)}: services.ray-worker.command --address must be ray-head:{gcs}")
    address = compose_env(compose_service("api")).get("RAY_ADDRESS", "")
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    expected = client if parts.scheme == "ray" else gcs
    assert (parts.hostname, parts.port) == ("ray-head", expected), (
        f"{rel(COMPOSE)}: services.api.environment.RAY_ADDRESS={address!r}; expected "
        f"ray://ray-head:{client} (Ray Client) or ray-head:{gcs} (GCS)")


def test_compose_api_environment_is_valid(monkeypatch):
    env = compose_env(compose_service("api"))
    keys = env.get("SEQUENCER_API_KEYS", "")
    assert re.fullmatch(r"\$\{SEQUENCER_API_KEYS:\?[^}]+\}", keys), (
        f"{rel(COMPOSE)}: services.api.environment.SEQUENCER_API_KEYS must be "
        "${SEQUENCER_API_KEYS:?message} (required, never a literal)")
    test_key = json.dumps(["a-real-looking-test-key-0123456789"])
    values = {k: interpolate(v, {"SEQUENCER_API_KEYS": test_key}) for k, v in env.items()}
    settings = validate_settings(values, monkeypatch)
    assert settings.port == DEFAULT_PORT, f"{rel(COMPOSE)}: services.api.environment.SEQUENCER_PORT"


# --- KubeRay ---

def test_kuberay_cluster_has_head_and_workers_on_the_image():
    docs = yaml_docs(KUBERAY)
    ray_docs = [d for d in docs if d.get("kind") in {"RayCluster", "RayService"}]
    assert ray_docs, f"{rel(KUBERAY)}: no RayCluster or RayService"
    for doc in ray_docs:
        assert doc.get("apiVersion") == "ray.io/v1", (
            f"{rel(KUBERAY)}: {doc['kind']} apiVersion {doc.get('apiVersion')!r}, "
            "expected ray.io/v1")
    _, spec = ray_cluster_spec()
    assert str(spec.get("rayVersion")) == ray_pin(), (
        f"{rel(KUBERAY)}: rayVersion {spec.get('rayVersion')!r}, pyproject pins {ray_pin()}")
    head = spec.get("headGroupSpec", {}).get("template", {}).get("spec", {}).get("containers")
    assert head, f"{rel(KUBERAY)}: headGroupSpec.template.spec.containers is missing"
    groups = spec.get("workerGroupSpecs") or []
    assert groups, f"{rel(KUBERAY)}: workerGroupSpecs is empty"
    _, api = api_deployment()
    for where, containers in [("headGroupSpec", head)] + [
            (f"workerGroupSpecs[{g.get('groupName')}]", g["template"]["spec"]["containers"])
            for g in groups]:
        assert containers[0]["image"] == api["image"], (
            f"{rel(KUBERAY)}: {where} image {containers[0]['image']} differs from the API's "
            f"{api['image']}; workers must run the API's code")


def test_kuberay_api_probes_hit_health_endpoints_on_one_port():
    _, api = api_deployment()
    probes = {}
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = api.get(kind, {}).get("httpGet")
        assert http, f"{rel(KUBERAY)}: API container {kind}.httpGet is missing"
        assert http.get("path") == path, f"{rel(KUBERAY)}: API {kind}.httpGet.path must be {path}"
        probes[kind] = resolve_port(api, http.get("port"))
    assert set(probes.values()) == {DEFAULT_PORT}, (
        f"{rel(KUBERAY)}: API probe ports {probes}, expected both on {DEFAULT_PORT}")
    if "command" in api or "args" in api:
        assert api.get("command", []) + api.get("args", []) == dockerfile_cmd(), (
            f"{rel(KUBERAY)}: API container command differs from the Dockerfile CMD")


def test_kuberay_api_service_targets_the_port():
    deployment, api = api_deployment()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = [s for s in kube_docs("Service")
                if s["spec"].get("selector") and s["spec"]["selector"].items() <= labels.items()]
    assert services, f"{rel(KUBERAY)}: no Service selects the API pods ({labels})"
    targets = {resolve_port(api, p.get("targetPort", p["port"]))
               for p in services[0]["spec"]["ports"]}
    assert DEFAULT_PORT in targets, (
        f"{rel(KUBERAY)}: Service {services[0]['metadata']['name']} targetPort")


def test_kuberay_api_environment(monkeypatch):
    _, api = api_deployment()
    env = {e["name"]: e for e in api.get("env", [])}
    unknown = sorted(n for n in env if n.startswith("SEQUENCER_") and n not in setting_names())
    assert not unknown, f"{rel(KUBERAY)}: API env {unknown} are not Settings fields"
    keys = env.get("SEQUENCER_API_KEYS", {})
    assert keys.get("valueFrom", {}).get("secretKeyRef"), (
        f"{rel(KUBERAY)}: API env SEQUENCER_API_KEYS must come from a Secret "
        "(valueFrom.secretKeyRef)")
    name, spec = ray_cluster_spec()
    head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    client = next((p["containerPort"] for p in head.get("ports", []) if p.get("name") == "client"),
                  RAY_CLIENT_DEFAULT_PORT)
    expected = f"ray://{name}-head-svc:{client}"
    assert env.get("RAY_ADDRESS", {}).get("value") == expected, (
        f"{rel(KUBERAY)}: API env RAY_ADDRESS must be {expected} (Ray Client on the head Service "
        f"KubeRay creates), got {env.get('RAY_ADDRESS', {}).get('value')!r}")
    values = {n: e["value"] for n, e in env.items() if "value" in e}
    values["SEQUENCER_API_KEYS"] = json.dumps(["a-real-looking-test-key-0123456789"])
    settings = validate_settings(values, monkeypatch)
    assert settings.environment == "production", f"{rel(KUBERAY)}: API env SEQUENCER_ENVIRONMENT"
    assert settings.port == DEFAULT_PORT, f"{rel(KUBERAY)}: API env SEQUENCER_PORT"
