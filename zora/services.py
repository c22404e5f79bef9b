"""Long-lived clients a process needs, opened from settings and closed in reverse order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from temporalio.client import Client
from temporalio.service import TLSConfig

from zora import db
from zora.db import Pool
from zora.errors import ConfigError
from zora.http import slack_session
from zora.limits import Limiter
from zora.settings import Settings
from zora.slack_api import SlackGateway
from zora.store import schema
from zora.temporal import connect


@dataclass
class Services:
    settings: Settings
    pool: Pool
    redis: aioredis.Redis
    temporal: Client
    # Today's one Slack installation (zora/slack_api.py).
    slack: SlackGateway
    # Rate limits of every public door (zora/limits.py), counted in this Redis.
    limiter: Limiter


def _read_pem(name: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{name}: {path} is not a PEM file (no -----BEGIN line)")
    return data


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """What Client.connect gets as `tls`, from the TEMPORAL_TLS* settings; a clear error for a bad set.

    False: plain gRPC (the embedded dev server, a cluster inside a private network). True: TLS with the
    system's CA roots. A TLSConfig: a client certificate (mTLS), a private CA, or a server name.
    """
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if (cert is None) != (key is None):
        raise ConfigError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (mTLS) or neither")
    ca, server_name = settings.temporal_tls_ca, settings.temporal_tls_server_name
    if cert is None and ca is None and server_name is None:
        # An API key is only ever sent over TLS.
        return settings.temporal_tls or settings.temporal_api_key is not None
    return TLSConfig(
        client_cert=_read_pem("TEMPORAL_TLS_CERT", cert) if cert is not None else None,
        client_private_key=_read_pem("TEMPORAL_TLS_KEY", key) if key is not None else None,
        server_root_ca_cert=_read_pem("TEMPORAL_TLS_CA", ca) if ca is not None else None,
        domain=server_name,
    )


def temporal_api_key(settings: Settings) -> str | None:
    return settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None


def redis_timeouts(settings: Settings) -> dict[str, Any]:
    """Connect and per-command timeouts for every Redis client Zora builds (the socket.io managers too):
    without them a Redis that accepts connections and never answers hangs whatever waits on it."""
    return {
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "socket_timeout": settings.redis_socket_timeout_seconds,
    }


def redis_client(settings: Settings, url: str | None = None) -> aioredis.Redis:
    """The process's Redis client (`url` overrides REDIS_URL, for tests pointing at a broken Redis)."""
    target = url or settings.redis_url
    assert target
    # Blocking: a burst (hundreds of sockets connecting at once) waits for a free connection
    # instead of failing with "Too many connections" (the plain pool's behaviour at its cap).
    return aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(target, max_connections=100, timeout=10, **redis_timeouts(settings))
    )


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    settings.require("database_url", "redis_url", "temporal_address")
    assert settings.database_url and settings.redis_url and settings.temporal_address
    # Checked before anything opens: a bad certificate setting stops the start with one clear line.
    tls = temporal_tls(settings)
    pool = await db.create_pool(settings.database_url)
    redis = redis_client(settings)
    slack_http = slack_session()
    try:
        temporal = await connect(
            settings.temporal_address, settings.temporal_namespace, tls=tls, api_key=temporal_api_key(settings)
        )
        yield Services(
            settings=settings,
            pool=pool,
            redis=redis,
            temporal=temporal,
            slack=SlackGateway.from_settings(settings, session=slack_http),
            limiter=Limiter(redis, settings),
        )
    finally:
        await slack_http.close()
        await redis.aclose()
        await pool.close()


async def readiness(services: Services) -> dict[str, str]:
    async def database() -> None:
        async with services.pool.acquire() as conn:
            await schema.ping(conn)

    async def redis() -> None:
        await services.redis.ping()

    async def temporal() -> None:
        await services.temporal.service_client.check_health()

    checks: dict[str, str] = {}
    for name, probe in (("database", database), ("redis", redis), ("temporal", temporal)):
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return checks
