"""shopify.app.toml says what the code does: every handled topic subscribed, the scopes Zora asks for."""

from __future__ import annotations

import tomllib
from pathlib import Path

from webhooks.topics import TOPIC_HANDLERS
from zora.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]


def test_app_toml_subscribes_every_handled_topic_and_the_compliance_ones() -> None:
    config = tomllib.loads((PROJECT / "shopify.app.toml").read_text())
    subscribed: set[str] = set()
    for sub in config["webhooks"]["subscriptions"]:
        assert sub["uri"] == "/webhooks/shopify"
        subscribed |= set(sub.get("topics", [])) | set(sub.get("compliance_topics", []))
    assert subscribed == set(TOPIC_HANDLERS)
    compliance = {t for sub in config["webhooks"]["subscriptions"] for t in sub.get("compliance_topics", [])}
    assert compliance == {"customers/data_request", "customers/redact", "shop/redact"}
    assert config["access_scopes"]["scopes"] == Settings.model_fields["shopify_scopes"].default
    assert config["webhooks"]["api_version"] == Settings.model_fields["shopify_api_version"].default


def test_app_proxy_points_at_the_proxy_session_route() -> None:
    config = tomllib.loads((PROJECT / "shopify.app.toml").read_text())
    proxy = config["app_proxy"]
    assert proxy["url"].endswith("/proxy") and (proxy["prefix"], proxy["subpath"]) == ("apps", "zora")
