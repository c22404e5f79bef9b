"""Issue 10 item 7: what Zora lets out through health checks, the production app, Sentry and Temporal.

/readyz names failed checks but not their errors; `zora web` serves no demo page; Sentry events carry no
local variables, emails, phones or the words people wrote; webhook workflow histories carry ids only;
the Temporal client takes TLS and API-key settings.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sentry_sdk
from aiohttp import web
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from temporalio.service import TLSConfig

from activities.shopify import ShopifyActivities
from tests.harness import CHANNEL
from tests.helpers import serving
from tests.shopify.harness import ShopifyZora
from zora.app.web import create_app
from zora.errors import ConfigError
from zora.logs import FILTERED, scrub_breadcrumb, scrub_event, sentry_options, setup_sentry
from zora.services import open_services, temporal_api_key, temporal_tls
from zora.settings import Settings
from zora.shopify.models import OrderNotice, webhook_workflow_id
from zora.shopify.samples import sample_payload


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


# /readyz and what `zora web` mounts.


async def test_readyz_says_which_check_failed_and_logs_why(
    sz: ShopifyZora, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real Redis client whose server is not there: the error names the socket path.
    secret_path = tmp_path / "private-infra-detail" / "redis.sock"
    broken = aioredis.Redis.from_url(f"unix://{secret_path}")
    services = dataclasses.replace(sz.zora.services, redis=broken)
    caplog.set_level(logging.ERROR, logger="zora.app.web")
    try:
        async with serving(create_app(sz.zora.settings, services)) as base:
            async with sz.zora.http.get(f"{base}/readyz") as resp:
                text = await resp.text()
                assert resp.status == 503
            assert json.loads(text) == {"ok": False, "checks": {"database": "ok", "redis": "failed", "temporal": "ok"}}
            assert "private-infra-detail" not in text and "Error" not in text
            assert "private-infra-detail" in caplog.text and "readiness check redis failed" in caplog.text
            # The production app (no `dev`): no demo storefront.
            async with sz.zora.http.get(f"{base}/demo") as resp:
                assert resp.status == 404
    finally:
        await broken.aclose()


def _paths(app: web.Application) -> set[str]:
    return {route.resource.canonical for route in app.router.routes() if route.resource is not None}


def test_zora_web_mounts_no_demo_page_and_no_stand_in() -> None:
    settings = Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0")  # type: ignore[call-arg]
    production, dev = create_app(settings), create_app(settings, dev=True)
    assert "/demo" not in _paths(production) and "/demo" in _paths(dev)
    # Stand-ins (Slack, Shopify, the mail catcher) run on their own ports under `zora dev`; none of their
    # routes is ever part of the web app.
    assert not [p for p in _paths(production) if any(s in p for s in ("standin", "inbox", "mail", "oauth/v2"))]
    for route in production.router.routes():
        assert not getattr(route.handler, "__module__", "").startswith("zora.standins")


# Sentry.


class _Captured(Transport):
    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events() -> Any:
    transport = _Captured()
    options = sentry_options("https://key@o0.ingest.sentry.io/0", "test")
    sentry_sdk.init(**options, transport=transport, default_integrations=True)
    try:
        yield transport.events
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()


EMAIL = "zelda.quixote@example.com"
PHONE = "+1 555-625-1199"
WORDS = "please leave it at the back door"


def _raise_with_personal_locals() -> None:
    email = EMAIL  # noqa: F841 - a local variable Sentry must not send
    body = f"{WORDS} {EMAIL} {PHONE}"  # noqa: F841
    raise ValueError(f"could not deliver to {EMAIL} ({PHONE})")


def test_sentry_events_carry_no_locals_emails_phones_or_message_text(sentry_events: list[dict[str, Any]]) -> None:
    log = logging.getLogger("zora.test_leaks")
    # A breadcrumb and an error event whose arguments are what a shopper wrote.
    log.warning("shopper wrote %s", f"{WORDS}, call {PHONE}")
    log.error("slack post failed for %s", WORDS, extra={"body": WORDS, "email": EMAIL})
    try:
        _raise_with_personal_locals()
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    assert len(sentry_events) == 2
    sent = json.dumps(sentry_events)
    for personal in (EMAIL, "zelda", "555-625-1199", WORDS):
        assert personal not in sent
    logged, raised = sentry_events
    # What stays is enough to find the problem: the log line's template, the exception type and place.
    assert logged["logentry"]["formatted"] == "slack post failed for %s"
    assert raised["exception"]["values"][0]["type"] == "ValueError"
    frames = raised["exception"]["values"][0]["stacktrace"]["frames"]
    assert any(f["function"] == "_raise_with_personal_locals" for f in frames)
    assert all("vars" not in f for f in frames)
    crumbs = raised["breadcrumbs"]["values"]
    assert any(c.get("message") == "shopper wrote %s" for c in crumbs)


def test_sentry_is_initialised_to_send_no_pii_and_no_locals() -> None:
    assert setup_sentry(None, "production") is False
    try:
        assert setup_sentry("https://key@o0.ingest.sentry.io/0", "production") is True
        options = sentry_sdk.get_client().options
        # sentry-sdk 2.x spells send_default_pii=False as data_collection (the flag itself is deprecated).
        assert not options["send_default_pii"] and options["include_local_variables"] is False
        collected = options["data_collection"]
        assert collected["user_info"] is False and collected["stack_frame_variables"] is False
        assert collected["http_bodies"] == [] and collected["cookies"] == {"mode": "off"}
        assert collected["url_query_params"] == {"mode": "off"}
        assert options["before_send"] is scrub_event and options["before_breadcrumb"] is scrub_breadcrumb
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()


def test_before_send_scrubs_an_event_built_by_hand() -> None:
    event = {
        "message": f"mail to {EMAIL} bounced",
        "logentry": {"message": "reply %s", "params": [WORDS], "formatted": f"reply {WORDS}"},
        "extra": {"text": WORDS, "conversation_id": "c-1", "nested": {"phone": PHONE}},
        "request": {"url": "https://zora.example/widget/session", "data": {"email": EMAIL}, "query_string": "t=x"},
        "breadcrumbs": {"values": [{"message": f"sent {PHONE}", "data": {"name": "Zelda"}}]},
        "exception": {"values": [{"value": f"{EMAIL} (555) 625 1199", "stacktrace": {"frames": [{"vars": {}}]}}]},
    }
    scrubbed = scrub_event(event, {})
    sent = json.dumps(scrubbed)
    for personal in (EMAIL, "625 1199", "625-1199", WORDS, "Zelda", "t=x"):
        assert personal not in sent
    assert scrubbed["extra"]["conversation_id"] == "c-1" and scrubbed["extra"]["text"] == FILTERED
    assert scrubbed["logentry"] == {"message": "reply %s", "formatted": "reply %s"}
    # Ids and dates are not mistaken for phone numbers.
    kept = scrub_event({"message": "order 820982911946154508 on 2026-01-15"}, {})
    assert kept["message"] == "order 820982911946154508 on 2026-01-15"


# Temporal histories.


def _history_text(history: Any) -> str:
    """A history as JSON with every payload decoded, so text inside payloads is searchable."""
    decoded: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "data" and isinstance(item, str):
                    with contextlib.suppress(ValueError):
                        decoded.append(base64.b64decode(item).decode("utf-8", "replace"))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    as_dict = history.to_json_dict()
    walk(as_dict)
    return json.dumps(as_dict) + "\n".join(decoded)


async def test_webhook_workflow_histories_carry_ids_not_order_or_customer_text(sz: ShopifyZora) -> None:
    services = sz.zora.services
    personal = {
        "email": "zelda.quixote@example.com",
        "first": "Zeldaprivate",
        "last": "Quixoteprivate",
        "address": "12 Hidden Lane",
        "note": "gift for my sister, leave at the back door",
        "tracking": "1ZPRIVATE0TRACKING42",
        "order_name": "#77123",
    }
    customer = sample_payload("customers/create", sz.shop) | {
        "email": personal["email"],
        "first_name": personal["first"],
        "last_name": personal["last"],
        "note": personal["note"],
        "default_address": {"address1": personal["address"], "first_name": personal["first"]},
    }
    status, answer, customer_webhook = await sz.send("customers/create", customer)
    assert status == 200 and (await sz.outcome(customer_webhook)).status == "processed"
    # The customer has an open conversation with a Slack thread: the order's line goes there.
    thread_ts = (await services.slack.chat_postMessage(channel=CHANNEL, text="card"))["ts"]
    async with services.pool.acquire() as conn:
        customer_row = await conn.fetchval(
            "SELECT id FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2", sz.shop_id, customer["id"]
        )
        shopper, conversation = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO shoppers (id, shop_id, customer_id) VALUES ($1, $2, $3)", shopper, sz.shop_id, customer_row
        )
        await conn.execute(
            "INSERT INTO conversations (id, shop_id, shopper_id) VALUES ($1, $2, $3)", conversation, sz.shop_id, shopper
        )
        await conn.execute(
            "INSERT INTO slack_threads (team_id, channel_id, thread_ts, shop_id, conversation_id)"
            " VALUES ('T0TEST', $1, $2, $3, $4)",
            CHANNEL,
            thread_ts,
            sz.shop_id,
            conversation,
        )
    order = sample_payload("orders/fulfilled", sz.shop)
    order["name"] = personal["order_name"]
    order["note"] = personal["note"]
    order["email"] = personal["email"]
    order["customer"] = customer
    order["shipping_address"] = {"address1": personal["address"], "name": f"{personal['first']} {personal['last']}"}
    order["fulfillments"][0]["tracking_number"] = personal["tracking"]
    order["fulfillments"][0]["tracking_numbers"] = [personal["tracking"]]
    status, answer, order_webhook = await sz.send("orders/fulfilled", order)
    assert status == 200 and answer["status"] == "accepted"
    outcome = await sz.outcome(order_webhook)
    assert outcome.status == "processed" and outcome.notice is not None
    # The line still reaches the thread, built from PostgreSQL by the activity.
    line = sz.zora.standin.thread(CHANNEL, thread_ts)[-1]["text"]
    assert personal["order_name"] in line and personal["tracking"] in line
    for webhook_id in (customer_webhook, order_webhook):
        handle = services.temporal.get_workflow_handle(webhook_workflow_id(webhook_id))
        text = _history_text(await handle.fetch_history())
        assert webhook_id in text and '"status":"processed"' in text.replace(" ", "")  # payloads were decoded
        for value in personal.values():
            assert value not in text, f"{value!r} is in the history of {webhook_id}"
    # A delivery recorded before this change carries its line inline: still posted as it is.
    activities = ShopifyActivities(services.pool, services.temporal, services.slack, sz.zora.settings)
    old = OrderNotice(shop_id=sz.shop_id, shopify_customer_id=customer["id"], text="Order #1 paid (recorded)")
    assert await activities.post_order_notice(old)
    assert sz.zora.standin.thread(CHANNEL, thread_ts)[-1]["text"] == "Order #1 paid (recorded)"


# The Temporal client's TLS and API key.


def _pem(path: Path, kind: str = "CERTIFICATE") -> Path:
    path.write_text(f"-----BEGIN {kind}-----\nMIIB\n-----END {kind}-----\n")
    return path


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_temporal_tls_settings_map_to_the_client(tmp_path: Path) -> None:
    cert, key, ca = _pem(tmp_path / "c.pem"), _pem(tmp_path / "k.pem", "PRIVATE KEY"), _pem(tmp_path / "ca.pem")
    assert temporal_tls(_settings()) is False
    assert temporal_tls(_settings(temporal_tls=True)) is True
    cloud = _settings(temporal_api_key="tc-key-123")
    assert temporal_tls(cloud) is True and temporal_api_key(cloud) == "tc-key-123"
    mtls = temporal_tls(
        _settings(
            temporal_tls_cert=str(cert),
            temporal_tls_key=str(key),
            temporal_tls_ca=str(ca),
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(mtls, TLSConfig)
    assert mtls.client_cert == cert.read_bytes() and mtls.client_private_key == key.read_bytes()
    assert mtls.server_root_ca_cert == ca.read_bytes() and mtls.domain == "temporal.internal"
    private_ca = temporal_tls(_settings(temporal_tls_ca=str(ca)))
    assert isinstance(private_ca, TLSConfig) and private_ca.client_cert is None
    assert private_ca.server_root_ca_cert == ca.read_bytes()


def test_bad_temporal_tls_settings_stop_the_start_with_a_clear_error(tmp_path: Path) -> None:
    cert, key = _pem(tmp_path / "c.pem"), _pem(tmp_path / "k.pem", "PRIVATE KEY")
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello")
    cases = [
        ({"temporal_tls_cert": str(cert)}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"),
        ({"temporal_tls_key": str(key)}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"),
        (
            {"temporal_tls_cert": str(tmp_path / "missing.pem"), "temporal_tls_key": str(key)},
            "TEMPORAL_TLS_CERT: cannot read .*missing.pem",
        ),
        ({"temporal_tls_ca": str(not_pem)}, "TEMPORAL_TLS_CA: .*not a PEM file"),
    ]
    for values, message in cases:
        with pytest.raises(ConfigError, match=message):
            temporal_tls(_settings(**values))


async def test_open_services_checks_tls_settings_before_connecting(tmp_path: Path) -> None:
    settings = _settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        redis_url="redis://127.0.0.1:1/0",
        temporal_address="127.0.0.1:1",
        temporal_tls_cert=str(_pem(tmp_path / "c.pem")),
    )
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_KEY"):
        async with open_services(settings):
            pass


# A real TLS connection: a TLS-terminating proxy that requires a client certificate (as an mTLS cluster
# does) in front of the test's Temporal server, which speaks plain HTTP/2 behind it.


def _certificates(folder: Path) -> dict[str, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def issue(
        name: str, issuer: tuple[x509.Name, Any] | None, *, ca: bool = False, san: str | None = None
    ) -> tuple[x509.Name, Any, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_name, issuer_key = issuer if issuer else (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        return subject, key, builder.sign(issuer_key, hashes.SHA256())

    paths: dict[str, Path] = {}

    def write(label: str, key: Any, cert: x509.Certificate) -> None:
        paths[f"{label}_cert"] = folder / f"{label}.crt"
        paths[f"{label}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{label}_key"] = folder / f"{label}.key"
        paths[f"{label}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_name, ca_key, ca_cert = issue("Zora test CA", None, ca=True)
    write("ca", ca_key, ca_cert)
    _, server_key, server_cert = issue("temporal.test", (ca_name, ca_key), san="temporal.test")
    write("server", server_key, server_cert)
    _, client_key, client_cert = issue("zora-worker", (ca_name, ca_key))
    write("client", client_key, client_cert)
    return paths


async def _tls_proxy(target: str, certs: dict[str, Path]) -> tuple[Any, int]:
    import asyncio
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server_cert"], certs["server_key"])
    context.load_verify_locations(certs["ca_cert"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = target.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


async def test_the_temporal_client_connects_over_mtls(infra: Any, database_url: str, tmp_path: Path) -> None:
    certs = _certificates(tmp_path)
    server, port = await _tls_proxy(infra.temporal_address, certs)
    base = {
        "database_url": database_url,
        "redis_url": infra.redis.url,
        "temporal_address": f"127.0.0.1:{port}",
        "temporal_tls_ca": str(certs["ca_cert"]),
        "temporal_tls_server_name": "temporal.test",
    }
    try:
        async with open_services(
            _settings(**base, temporal_tls_cert=str(certs["client_cert"]), temporal_tls_key=str(certs["client_key"]))
        ) as services:
            assert await services.temporal.service_client.check_health()
        # Without the client certificate the proxy (like an mTLS cluster) refuses the connection.
        with pytest.raises(RuntimeError):
            async with open_services(_settings(**base)):
                pass
    finally:
        server.close()
        await server.wait_closed()
