from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zora.errors import ConfigError
from zora.settings import load_settings

PROJECT = Path(__file__).resolve().parents[2]


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="SLACK_API_URL"):
        load_settings(_env_file=None, slack_api_url="https://slack.com/api")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(_env_file=None, database_url="mysql://x")
    with pytest.raises(ConfigError, match="ZORA_SECRET_KEY"):
        load_settings(_env_file=None, zora_secret_key="short")
    with pytest.raises(ConfigError, match="PORT"):
        load_settings(_env_file=None, port=0)


def test_require_names_the_missing_variable() -> None:
    settings = load_settings(_env_file=None)
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is required"):
        settings.require("database_url")


def _zora(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEMPORAL_", "SLACK_", "ZORA_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "zora.app.cli", *args],
        env={**clean, **env},
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
    )


# Everything `zora web` and `zora worker` check before Slack (nothing is connected before the check).
_READY = {
    "DATABASE_URL": "postgresql://127.0.0.1:1/zora",
    "REDIS_URL": "redis://127.0.0.1:1",
    "TEMPORAL_ADDRESS": "127.0.0.1:1",
    "ZORA_SECRET_KEY": "k" * 32,
}
_ADD_TO_SLACK = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c", "SLACK_SIGNING_SECRET": "s"}


def test_add_to_slack_makes_the_bot_token_optional() -> None:
    load_settings(
        _env_file=None, slack_client_id="1.2", slack_client_secret="c", slack_signing_secret="s"
    ).require_slack()
    load_settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s").require_slack()
    load_settings(_env_file=None, slack_bot_token="xoxb-1", slack_app_token="xapp-1").require_slack(events=False)
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN \(Socket Mode\) serves one workspace"):
        load_settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_client_id="1.2",
            slack_client_secret="c",
            slack_app_token="x",
        ).require_slack(events=False)


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["web"], {}, "DATABASE_URL is required"),
        (["worker"], {"DATABASE_URL": "postgresql://x/y"}, "REDIS_URL is required"),
        (["migrate"], {}, "DATABASE_URL is required"),
        (["web"], {"REDIS_URL": "http://nope"}, "REDIS_URL"),
        (["web"], {"PORT": "eighty"}, "PORT"),
        # Slack set up neither way (issue 11): both ways are named.
        (["web"], {**_READY, "SLACK_SIGNING_SECRET": "s"}, "set SLACK_BOT_TOKEN (one workspace), or SLACK_CLIENT_ID"),
        (["worker"], _READY, "set SLACK_BOT_TOKEN (one workspace), or SLACK_CLIENT_ID"),
        (["worker"], {**_READY, "SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_ID is set without SLACK_CLIENT_SECRET"),
        (["web"], {**_READY, "SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is required"),
        (["web"], {**_READY, **_ADD_TO_SLACK, "SLACK_APP_TOKEN": "xapp-1"}, "cannot be combined with Add to Slack"),
    ],
)
def test_cli_stops_with_one_clear_line(args: list[str], env: dict[str, str], needle: str, tmp_path: Path) -> None:
    result = _zora(args, env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zora: error:") and needle in lines[0]


def test_cli_usage_error_for_unknown_command(tmp_path: Path) -> None:
    result = _zora(["fly"], {}, tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_migrate_command_against_a_real_database(database_url: str, tmp_path: Path) -> None:
    result = _zora(["migrate"], {"DATABASE_URL": database_url}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_env_example_documents_every_setting_and_loads_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zora.settings import Settings

    example = (PROJECT / ".env.example").read_text()
    keys = {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert keys == {name.upper() for name in Settings.model_fields}
    (tmp_path / ".env").write_text(example)
    monkeypatch.chdir(tmp_path)
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert settings.database_url is None and settings.port == 8000 and settings.cors_allowed_origins == []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dev_on_a_busy_port_stops_with_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    import socket

    import psutil

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["dev", "--data-dir", str(tmp_path / "data"), "--port", str(port)]
        for flag in ("--slack-port", "--temporal-port", "--temporal-ui-port"):
            args += [flag, str(_free_port())]
        env = {"SMTP_HOST": "127.0.0.1", "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s" * 32}
        result = subprocess.run(
            [sys.executable, "-m", "zora.app.cli", *args],
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEMPORAL_"))},
                **env,
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "zora: error: a port is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    data = str(tmp_path / "data")
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(attrs=["cmdline"])
        if p.info["cmdline"] and any(data in part for part in p.info["cmdline"])
    ]
    assert leftovers == []


def test_zora_dev_runs_the_slack_stand_in_only_without_a_real_slack_app() -> None:
    from zora.app.dev import _wants_slack_standin

    assert _wants_slack_standin(load_settings(_env_file=None))
    assert not _wants_slack_standin(load_settings(_env_file=None, slack_bot_token="xoxb-1"))
    assert not _wants_slack_standin(load_settings(_env_file=None, slack_client_id="1.2", slack_client_secret="c"))
