"""Long-lived clients a process needs, opened from settings and closed in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client
from temporalio.service import TLSConfig

from zora import db
from zora.db import Pool
from zora.errors import ConfigError
from zora.http import SLACK_TIMEOUT_SECONDS
from zora.limits import Limiter
from zora.metrics import MeteredWebClient
from zora.settings import Settings
from zora.temporal import connect


@dataclass
class Services:
    settings: Settings
    pool: Pool
    redis: aioredis.Redis
    temporal: Client
    slack: AsyncWebClient
    # Rate limits of every public door (zora/limits.py), counted in this Redis.
    limiter: Limiter


def slack_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # No retry handlers: Temporal owns retries of Slack calls (429 -> next_retry_delay).
    return MeteredWebClient(
        token=token, base_url=settings.slack_api_url, retry_handlers=[], timeout=SLACK_TIMEOUT_SECONDS
    )


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
    try:
        temporal = await connect(
            settings.temporal_address, settings.temporal_namespace, tls=tls, api_key=temporal_api_key(settings)
        )
        yield Services(
            settings=settings,
            pool=pool,
            redis=redis,
            temporal=temporal,
            slack=slack_client(settings),
            limiter=Limiter(redis, settings),
        )
    finally:
        await redis.aclose()
        await pool.close()
