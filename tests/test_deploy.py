"""The container image and the Compose stack, checked without a container engine (none runs here).

docker-compose.yml is validated against the Compose Specification's own JSON schema (the copy that
the `check-jsonschema` package ships), the Dockerfile is read by BuildKit's parser (the `dockerfile`
package), every variable given to Zora must be a real setting that loads, every command must be a
`zora` subcommand that parses, health checks must reach Zora's health routes, and nginx must pass
websockets and the client's address. Where a Compose v2 CLI or nginx is installed, they read the
files themselves; elsewhere those two tests skip and say so.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import pytest
from ruamel.yaml import YAML

from zora.app.cli import _parser
from zora.models import SA_SHOP, SA_STATUS
from zora.settings import Settings, load_settings

PROJECT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = PROJECT / "docker-compose.yml"
DOCKERFILE = PROJECT / "Dockerfile"
NGINX_CONF = PROJECT / "nginx.conf"
ZORA_IMAGE = "zora:local"
HEALTH_ROUTES = {"/healthz", "/readyz"}
# Variables the image sets for Python and the shell, not for Zora.
RUNTIME_VARIABLES = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
# Variables Compose itself reads (from .env or the shell) to fill in the file; docs/operations.md
# explains each. Zora never sees them by these names.
COMPOSE_VARIABLES = {"POSTGRES_PASSWORD", "ZORA_HTTP_PORT"}


def _yaml(path: Path) -> Any:
    # The safe loader of a YAML 1.2 parser, as Compose's; merge keys (<<) are resolved on load.
    return YAML(typ="safe", pure=True).load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


def _compose_schema() -> dict[str, Any]:
    schema = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    loaded: dict[str, Any] = json.loads(schema.read_text())
    return loaded


_INTERPOLATION = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, with `env` as .env and the shell."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name is None:
            return "$"
        if name in env and (env[name] != "" or not (op or "").startswith(":")):
            return env[name]
        if op and op.endswith("-"):
            return arg
        raise AssertionError(f"${{{name}}} is not set ({arg})" if op else f"${{{name}}} is not set")

    return _INTERPOLATION.sub(one, value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _zora_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s.get("image") == ZORA_IMAGE or "build" in s}


def _env_file_keys(path: Path) -> set[str]:
    keys = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.add(line.split("=", 1)[0].strip())
    return keys


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the zora command has no subcommands")


# --- the Compose file --------------------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = _compose_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The schema is strict enough to catch a misspelt key: a check that can fail.
    broken = copy.deepcopy(compose)
    broken["services"]["web"]["helthcheck"] = broken["services"]["web"].pop("healthcheck")
    assert not validator.is_valid(broken)


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if image == ZORA_IMAGE:
            assert "build" in service, f"{name} uses the local image but does not build it"
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin {image} to a version tag"


def test_compose_variables_are_the_documented_ones(compose: dict[str, Any]) -> None:
    used = {m.group(1) for m in _INTERPOLATION.finditer(COMPOSE_FILE.read_text()) if m.group(1)}
    assert used == COMPOSE_VARIABLES
    section = (PROJECT / "docs" / "operations.md").read_text().split("## Running with Docker Compose", 1)[1]
    for name in COMPOSE_VARIABLES:
        assert name in section, f"{name} is not explained in docs/operations.md"


def test_zora_services_set_only_real_settings_and_they_load(
    compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    services = _zora_services(compose)
    assert set(services) == {"migrate", "web", "worker"}
    for name, service in services.items():
        for entry in service.get("env_file", []):
            path = entry["path"] if isinstance(entry, dict) else entry
            template = PROJECT / path if (PROJECT / path).is_file() else PROJECT / f"{path}.example"
            # .env is the operator's copy (never committed); its template is in the repository.
            assert template.is_file(), f"{name}: env_file {path} has no template in the repository"
            unknown = _env_file_keys(template) - fields
            assert not unknown, f"{name}: {template.name} sets {sorted(unknown)}, which are not Zora settings"
            # Compose substitutes $VAR inside an env_file's values: the template must not rely on a `$`.
            values = [line for line in template.read_text().splitlines() if not line.lstrip().startswith("#")]
            assert not [v for v in values if "$" in v], f"{template.name}: Compose would substitute a `$` in it"

        env = _environment(service)
        unknown = set(env) - fields
        assert not unknown, f"{name} sets {sorted(unknown)}, which are not Zora settings"

        # The values must load as Zora reads them (JSON lists, URLs, ports): no .env, only these.
        monkeypatch.chdir(tmp_path)
        for key in fields:
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, _interpolate(value, {"POSTGRES_PASSWORD": "pw"}))
        settings = load_settings()
        assert settings.host == "0.0.0.0" and settings.database_url and settings.redis_url
        assert settings.temporal_address == "temporal:7233"

    image_env = _dockerfile_env()
    unknown = set(image_env) - fields - RUNTIME_VARIABLES
    assert not unknown, f"the Dockerfile sets {sorted(unknown)}, which are not Zora settings"


def test_commands_are_zora_subcommands_that_parse(compose: dict[str, Any]) -> None:
    subcommands = _subcommands()
    instructions = _dockerfile_instructions(final_stage=True)
    entrypoint, default_command = instructions["ENTRYPOINT"][-1], instructions["CMD"][-1]
    # Exec form: the shell form would run `sh -c`, and the command's arguments would not reach zora.
    assert entrypoint.json and default_command.json
    assert list(entrypoint.value) == ["zora"]
    default = list(default_command.value)
    scripts = _pyproject_scripts()
    assert scripts.get("zora") == "zora.app.cli:main", "the image's entry point is not the project's zora command"
    assert default[0] in subcommands
    _parser().parse_args(default)

    services = _zora_services(compose)
    expected = {"migrate": "migrate", "web": "web", "worker": "worker"}
    for name, service in services.items():
        command = service["command"]
        assert "entrypoint" not in service, f"{name} replaces the zora entry point"
        assert isinstance(command, list) and command[0] in subcommands, f"{name}: {command} is not a zora command"
        assert command[0] == expected[name]
        _parser().parse_args(command)  # a bad flag exits here


def test_start_order_waits_for_what_each_service_needs(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def waits_for(name: str) -> dict[str, str]:
        depends = services[name].get("depends_on", {})
        return {dep: spec["condition"] for dep, spec in depends.items()}

    assert waits_for("migrate") == {"postgres": "service_healthy"}
    for name in ("web", "worker"):
        assert waits_for(name) == {
            "migrate": "service_completed_successfully",
            "temporal-setup": "service_completed_successfully",
            "redis": "service_healthy",
        }
    assert waits_for("temporal")["postgres"] == "service_healthy"
    assert waits_for("temporal-setup")["temporal"] == "service_healthy"
    assert waits_for("proxy")["web"] == "service_healthy"
    # Waiting for "healthy" on a service without a health check would wait forever.
    for name in services:
        for dep, condition in waits_for(name).items():
            if condition == "service_healthy":
                check = services[dep].get("healthcheck", {})
                own = "test" in check and not check.get("disable")
                from_image = services[dep].get("image") == ZORA_IMAGE and not check.get("disable")
                assert own or from_image, f"{name} waits for {dep} to be healthy, but {dep} has no health check"
    # One-shots must not be restarted once they succeed.
    for name in ("migrate", "temporal-setup"):
        assert services[name]["restart"] == "no", name
    assert services["web"]["deploy"]["replicas"] == 2


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "temporal", "web", "proxy"):
        check = services[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
    web_test = services["web"]["healthcheck"]["test"]
    assert _health_route(web_test) == "/readyz"
    assert _health_route(services["proxy"]["healthcheck"]["test"]) in HEALTH_ROUTES


def test_search_attributes_registered_are_the_ones_workflows_use(compose: dict[str, Any]) -> None:
    setup = compose["services"]["temporal-setup"]
    script = "\n".join(setup["command"])
    registered = set(re.findall(r"for name in ([^;]+);", script)[0].split())
    assert registered == {SA_SHOP.name, SA_STATUS.name}
    assert "--type Keyword" in script
    namespaces = {_environment(s)["TEMPORAL_NAMESPACE"] for s in _zora_services(compose).values()}
    assert namespaces == {_environment(setup)["TEMPORAL_NAMESPACE"]}
    assert _environment(compose["services"]["temporal"])["DEFAULT_NAMESPACE"] in namespaces


def _compose_command() -> list[str] | None:
    """Compose v2 (`docker compose` or a standalone `docker-compose`): `config` needs no engine."""
    import shutil

    for name, *sub in (["docker", "compose"], ["docker-compose"]):
        path = shutil.which(name)
        if path is None:
            continue
        command = [path, *sub]
        found = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=60)
        if found.returncode == 0 and found.stdout.strip().lstrip("v").startswith("2."):
            return command
    return None


def test_compose_itself_reads_the_stack_and_zora_loads_what_it_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compose's own reading: interpolation, .env parsed as Compose parses it, env_file merged under
    `environment`. Needs only the Compose CLI (no engine), so it runs wherever Docker is installed."""
    command = _compose_command()
    if command is None:
        pytest.skip("no Compose v2 CLI (docker compose / docker-compose) on PATH; the schema checks above still ran")
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("docker-compose.yml", "nginx.conf", "Dockerfile"):
        (tmp_path / name).write_text((PROJECT / name).read_text())
    (tmp_path / ".env").write_text((PROJECT / ".env.example").read_text() + "POSTGRES_PASSWORD=pw-1_x\n")
    result = subprocess.run(
        [*command, "--project-directory", str(tmp_path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        # The shell's variables win over .env in Compose: keep ours out of it.
        env={
            k: v for k, v in os.environ.items() if k not in fields | COMPOSE_VARIABLES and not k.startswith("COMPOSE_")
        },
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # no .env: only what Compose gives
    for name in ("migrate", "web", "worker"):
        env = {k: v for k, v in resolved[name]["environment"].items() if v is not None}
        # What reaches Zora: its settings, plus the password Compose needed (ignored by Zora).
        assert set(env) - fields == {"POSTGRES_PASSWORD"}, name
        for key in fields:
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert settings.database_url == "postgresql://zora:pw-1_x@postgres:5432/zora"
        assert settings.host == "0.0.0.0" and settings.smtp_host == "mailpit" and settings.log_format == "json"
    assert resolved["web"]["environment"]["TRUSTED_PROXIES"] == '["172.29.250.10/32"]'
    assert resolved["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pw-1_x"


# --- the image ---------------------------------------------------------------------------------------


def _dockerfile_instructions(final_stage: bool) -> dict[str, list[dockerfile.Command]]:
    """By instruction, as BuildKit's own parser reads them: the last stage's, or every stage's."""
    stages: list[dict[str, list[dockerfile.Command]]] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            stages.append({})
        if stages:
            stages[-1].setdefault(command.cmd, []).append(command)
    assert stages, "no FROM in the Dockerfile"
    if final_stage:
        return stages[-1]
    merged: dict[str, list[dockerfile.Command]] = {}
    for stage in stages:
        for key, commands in stage.items():
            merged.setdefault(key, []).extend(commands)
    return merged


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for command in _dockerfile_instructions(final_stage=False).get("ENV", []):
        pairs = command.value
        env.update(zip(pairs[::2], pairs[1::2], strict=True))
    return env


def _pyproject_scripts() -> dict[str, str]:
    data = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    scripts: dict[str, str] = data["project"]["scripts"]
    return scripts


def _health_command(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if test[0] == "CMD":
        return test[1:]
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1]]
    raise AssertionError(f"unexpected health check {test}")


def _health_route(test: list[str] | str) -> str:
    found = re.findall(r"http://127\.0\.0\.1(?::[^/]*)?(/[a-z]+)", " ".join(_health_command(test)))
    assert len(found) == 1, f"health check {test} does not name one local URL"
    return str(found[0])


def test_image_is_multi_stage_and_runs_as_a_non_root_user() -> None:
    everything = _dockerfile_instructions(final_stage=False)
    assert len(everything["FROM"]) >= 2, "build and runtime should be separate stages"
    final = _dockerfile_instructions(final_stage=True)
    assert any(f.startswith("--from=") for c in final.get("COPY", []) for f in c.flags), "no copy from the build"
    users = final.get("USER", [])
    assert users, "the image runs as root: no USER in the final stage"
    user = users[-1].value[0].split(":")[0]
    assert user not in ("root", "0"), f"the image runs as {users[-1].value[0]}"
    # The widget is installed, not built: no Node.js anywhere in the image.
    steps = " ".join(" ".join(c.value) for c in everything["FROM"] + everything["RUN"])
    assert not re.search(r"\b(node|npm|npx|yarn)\b", steps.lower())


def test_image_health_check_reaches_a_health_route() -> None:
    final = _dockerfile_instructions(final_stage=True)
    checks = final.get("HEALTHCHECK", [])
    assert checks, "the image has no HEALTHCHECK"
    check = checks[-1]
    assert check.value[0] == "CMD", "HEALTHCHECK NONE"
    # Exec form is ["CMD", argv...]; the shell form is ["CMD", "the command line"], as in Compose's test.
    test = list(check.value) if check.json else ["CMD-SHELL", check.value[1]]
    assert _health_route(test) in HEALTH_ROUTES


class _Health(BaseHTTPRequestHandler):
    status = {"/healthz": 200, "/readyz": 200}

    def do_GET(self) -> None:
        self.send_response(self.status.get(self.path, 404))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_python_health_checks_pass_on_200_and_fail_otherwise(
    compose: dict[str, Any], health_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image and the web nodes check health with `python -c`: run those exact commands."""
    final = _dockerfile_instructions(final_stage=True)
    image_check = list(final["HEALTHCHECK"][-1].value)
    commands = [_health_command(image_check), _health_command(compose["services"]["web"]["healthcheck"]["test"])]
    port = str(health_server.server_address[1])

    def run(command: list[str]) -> int:
        assert command[0] == "python", command
        env = {"PORT": port, "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=60).returncode

    for command in commands:
        route = _health_route(["CMD", *command])
        monkeypatch.setattr(_Health, "status", {route: 200})
        assert run(command) == 0
        monkeypatch.setattr(_Health, "status", {route: 503})
        assert run(command) != 0


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern[1:] if negate else pattern
        glob = glob.rstrip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) or fnmatchcase(c, glob) for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_has_the_sources_and_the_widget_bundle_but_no_secrets() -> None:
    patterns = [
        line.strip()
        for line in (PROJECT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    copies = _dockerfile_instructions(final_stage=False)["COPY"]
    copied = [source for c in copies if not c.flags for source in c.value[:-1]]
    assert copied
    for source in copied:
        assert not _dockerignored(source.rstrip("/"), patterns), f"the Dockerfile copies {source}, which is ignored"
    migration = sorted(p.relative_to(PROJECT).as_posix() for p in (PROJECT / "zora" / "migrations").glob("*.sql"))[0]
    for needed in ("widget/static/widget.js", migration, "pyproject.toml", "README.md", "zora/app/cli.py"):
        assert (PROJECT / needed).is_file(), needed
        assert not _dockerignored(needed, patterns), f"{needed} is left out of the image"
    for secret in (".env", "tests/conftest.py", ".venv/bin/python", ".git/config", ".zora/secret.key"):
        assert _dockerignored(secret, patterns), f"{secret} would be sent to the build"
    # What pip installs from that context: the bundle is package data.
    package_data = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "static/*" in package_data["widget"] and "migrations/*.sql" in package_data["zora"]


# --- the reverse proxy -------------------------------------------------------------------------------


def _nginx_blocks(text: str) -> list[Any]:
    """nginx's configuration as nested lists: a directive is a list of words, a block is (words, body)."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};]+', re.sub(r"#[^\n]*", "", text))
    stack: list[list[Any]] = [[]]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block: list[Any] = []
            stack[-1].append((words, block))
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            stack[-1].append(words)
            words = []
        else:
            words.append(token.strip("\"'"))
    assert len(stack) == 1 and not words, "unbalanced nginx.conf"
    return stack[0]


def _find(body: list[Any], *names: str) -> list[tuple[list[str], list[Any]]]:
    return [item for item in body if isinstance(item, tuple) and item[0][: len(names)] == list(names)]


def _directives(body: list[Any], name: str) -> list[list[str]]:
    return [item[1:] for item in body if isinstance(item, list) and item and item[0] == name]


def test_proxy_passes_websockets_and_the_client_address(compose: dict[str, Any]) -> None:
    config = _nginx_blocks(NGINX_CONF.read_text())
    [(_, http)] = _find(config, "http")
    [(_, server)] = _find(http, "server")
    maps = {words[2]: body for words, body in _find(http, "map") if words[1] == "$http_upgrade"}

    locations = {words[1]: body for words, body in _find(server, "location")}
    assert "/socket.io/" in locations and "/" in locations
    for path, body in locations.items():
        headers = {h[0].lower(): h[1] for h in _directives(body, "proxy_set_header")}
        assert _directives(body, "proxy_pass"), path
        assert headers.get("x-forwarded-for") in ("$proxy_add_x_forwarded_for", "$remote_addr"), path
        if path == "/socket.io/":
            assert _directives(body, "proxy_http_version") == [["1.1"]]
            assert headers.get("upgrade") == "$http_upgrade"
            connection = headers.get("connection", "")
            # Either "upgrade" itself, or a map of $http_upgrade that gives "upgrade" for a handshake.
            assert connection == "upgrade" or (connection in maps and ["default", "upgrade"] in maps[connection]), (
                f"/socket.io/ sends Connection {connection!r}: websocket handshakes would not pass"
            )

    # nginx forwards to the compose service of the web nodes, on the port they listen on.
    web = compose["services"]["web"]
    [(_, upstream)] = [item for item in _find(http, "upstream")]
    servers = [d[0] for d in _directives(upstream, "server")]
    assert servers == [f"web:{_environment(web)['PORT']}"]

    # Bodies Zora accepts by default must get through to Zora.
    [[size]] = _directives(server, "client_max_body_size")
    limit = int(size.rstrip("mM")) * 1024 * 1024 if size[-1] in "mM" else int(size)
    defaults = Settings.model_fields
    assert limit >= max(defaults["file_max_bytes"].default, defaults["shopify_webhook_max_bytes"].default)

    # The mounted file is this one.
    proxy = compose["services"]["proxy"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]


def test_web_trusts_exactly_the_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    proxy_address = ipaddress.ip_address(services["proxy"]["networks"]["edge"]["ipv4_address"])
    trusted = [ipaddress.ip_network(n) for n in json.loads(_environment(services["web"])["TRUSTED_PROXIES"])]
    assert any(proxy_address in network for network in trusted), "web does not trust the proxy's address"
    [pool] = compose["networks"]["edge"]["ipam"]["config"]
    assert proxy_address in ipaddress.ip_network(pool["subnet"])
    # No other container on the edge network can be handed a trusted address.
    dynamic = ipaddress.ip_network(pool["ip_range"])
    assert all(not network.overlaps(dynamic) for network in trusted)
    on_edge = {n for n, s in services.items() if "edge" in (s.get("networks") or [])}
    assert on_edge == {"web", "proxy"}
    # The web nodes are reached through the proxy only.
    assert "ports" not in services["web"]


def _nginx() -> tuple[str, tuple[int, ...]] | None:
    import shutil

    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if path is None:
        return None
    banner = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", banner)
    return (path, tuple(int(n) for n in match.groups())) if match else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_nginx_passes_a_websocket_handshake_and_the_client_address(tmp_path: Path) -> None:
    """nginx.conf itself, run by a real nginx in front of a stand-in web node on loopback."""
    import asyncio
    import grp
    import io
    import signal

    from aiohttp import ClientSession, WSMsgType, web

    found = _nginx()
    if found is None:
        pytest.skip("no nginx binary (Debian's package: apt-get install nginx); the config's structure was checked")
    nginx, version = found

    seen: list[dict[str, str]] = []

    async def socket_io(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str("echo:" + message.data)
        return ws

    async def anything(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text=str(len(await request.read())))

    limit = max(
        Settings.model_fields["file_max_bytes"].default, Settings.model_fields["shopify_webhook_max_bytes"].default
    )
    app = web.Application(client_max_size=2 * limit)
    app.router.add_get("/socket.io/", socket_io)
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream_port = runner.addresses[0][1]

    port = _free_port()
    config = NGINX_CONF.read_text().replace("server web:8000", f"server 127.0.0.1:{upstream_port}")
    config = config.replace("listen 80;", f"listen 127.0.0.1:{port};")
    if version < (1, 27, 3):  # `resolve` in an upstream came to open-source nginx in 1.27.3
        config = config.replace(" resolve;", ";")
    # The image's user and paths do not exist here.
    group = "nogroup" if "nogroup" in {g.gr_name for g in grp.getgrall()} else "nobody"
    config = config.replace("user nginx;", f"user nobody {group};" if os.geteuid() == 0 else "")
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = config.replace("http {", f"http {{ {temp} access_log {tmp_path / 'access.log'};", 1)
    (tmp_path / "nginx.conf").write_text(config)
    process = await asyncio.create_subprocess_exec(
        nginx,
        "-p",
        str(tmp_path),
        "-c",
        str(tmp_path / "nginx.conf"),
        "-e",
        str(tmp_path / "error.log"),
        "-g",
        f"daemon off; pid {tmp_path / 'nginx.pid'};",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    assert process.returncode is None, (await process.stderr.read()).decode() if process.stderr else ""
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                await writer.wait_closed()
                break

        async with ClientSession() as session:
            url = f"http://127.0.0.1:{port}"
            async with session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws:
                await ws.send_str("hello")
                assert (await ws.receive(timeout=30)).data == "echo:hello"
            # What the client claims stays on the left; nginx adds the peer it saw, which Zora takes.
            assert seen[-1]["X-Forwarded-For"] == "127.0.0.1"
            async with session.post(
                f"{url}/widget/files", data=io.BytesIO(b"x" * limit), headers={"X-Forwarded-For": "6.6.6.6"}
            ) as r:
                assert r.status == 200 and await r.text() == str(limit)
            assert seen[-1]["X-Forwarded-For"] == "6.6.6.6, 127.0.0.1"
            assert seen[-1].get("Connection", "") == ""  # keepalive to the web nodes
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)
            async with asyncio.timeout(60):
                await process.wait()
        await runner.cleanup()
