"""Settings, read once from the environment and `.env`, then passed in explicitly."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from limits import parse as parse_rate
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zora.addresses import parse_sender
from zora.errors import ConfigError

# Every rate-limit setting (zora/limits.py reads them all).
RATE_SETTINGS = (
    "rate_sessions_per_address",
    "rate_sessions_per_shop",
    "rate_proxy_sessions_per_customer",
    "rate_conversations_per_address",
    "rate_conversations_per_shop",
    "rate_messages_per_shopper",
    "rate_messages_per_conversation",
    "rate_messages_per_address",
    "rate_messages_per_shop",
    "rate_uploads_per_conversation",
    "rate_uploads_per_address",
    "rate_slash_commands_per_user",
    "rate_webhooks_per_shop",
    "rate_confirmation_emails_per_recipient",
    "rate_confirmation_emails_per_address",
    "rate_admin_requests_per_shop",
    "rate_staff_sign_in_per_address",
    "rate_staff_sign_in_per_address_and_email",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    # Infrastructure. Unset means "embedded" under `zora dev`; `zora web`/`zora worker` require them.
    database_url: str | None = None
    redis_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "zora"

    # Signs shopper tokens. `zora dev` generates and keeps one in the data folder when unset.
    zora_secret_key: SecretStr | None = None
    # Keys used before the current one, comma-separated: stored Shopify tokens sealed with them still open.
    zora_previous_secret_keys: SecretStr | None = None

    # Slack: one workspace (SLACK_BOT_TOKEN) or Add to Slack (SLACK_CLIENT_ID/SECRET below, the bot token then
    # optional); `require_slack` checks one of the two. Without either `zora dev` runs the Slack stand-in.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_default_channel: str | None = None
    # Who may act for a shop (its channel's members, its agents user group) is asked of Slack and
    # remembered this long: someone removed from the channel loses access within this time.
    slack_access_cache_seconds: float = Field(default=60.0, gt=0, le=3600)
    # "Add to Slack" (issue 11 §2): the Slack app's client id and secret (Basic Information > App
    # Credentials). With them each shop connects its own workspace from the admin page; SLACK_BOT_TOKEN,
    # when set too, serves only the shops the operator gives a channel in its workspace.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None

    # Shopify app (Partner dashboard: client id and secret). Without them `zora dev` runs the Shopify stand-in.
    shopify_api_key: str | None = None
    shopify_api_secret: SecretStr | None = None
    shopify_api_version: str = "2026-04"
    shopify_scopes: str = "read_customers,write_customers,read_orders,write_orders,read_products"
    # Where a shop's Admin API and OAuth live; `{shop}` is the myshopify domain. Only changed for a stand-in.
    shopify_admin_base_url: str = "https://{shop}"
    shopify_reconcile_every_minutes: int = Field(default=60, ge=1)
    shopify_reconcile_jitter_minutes: int = Field(default=10, ge=0)

    # Web.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    cors_allowed_origins: list[str] = Field(default_factory=list)
    shopper_token_ttl_days: int = Field(default=90, ge=1, le=3650)
    # Largest image or PDF a shopper may send, or Zora copies from Slack for the shopper (bytes).
    file_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)

    # Conversation defaults.
    idle_close_hours: float = Field(default=24.0, gt=0)

    # Replies a shopper missed: emailed once when still unseen this many minutes after the last one.
    offline_email_after_minutes: float = Field(default=15.0, gt=0)
    # Where the link in that email opens the conversation; {shop} is the myshopify domain.
    widget_link_url: str = "https://{shop}/"
    # How long a code in an emailed link works (once): the conversation link of a missed-reply email
    # (read hours later, often the next day) and the link that confirms a typed address.
    email_code_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 7)

    # Outgoing email (SMTP). Without SMTP_HOST no email is sent; `zora dev` runs a local catcher.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" (upgrade a plain connection, usually port 587), "tls" (implicit TLS, usually 465), "none".
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Zora <no-reply@localhost>"

    # Operations.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sentry_dsn: str | None = None
    environment: str = "production"

    # Redis timeouts (seconds): to connect, and for each command's answer. Redis answers in well under a
    # millisecond, so a slower answer is an outage: the command fails instead of hanging the request, and
    # what uses Redis (event de-duplication, presence, pushes) carries on without it.
    redis_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    redis_socket_timeout_seconds: float = Field(default=1.0, gt=0, le=60)

    # Agent replies Slack never delivered (Zora down or unreachable) are fetched by the minute sweep with
    # conversations.replies (Slack Tier 3, about 50 calls a minute): at most this many open conversations
    # and this many calls per run (0 conversations turns it off). A 429 ends the run; the next one goes on.
    reply_backfill_conversations_per_run: int = Field(default=20, ge=0, le=1000)
    reply_backfill_calls_per_run: int = Field(default=30, ge=1, le=1000)

    # Rate limits, counted in Redis across web nodes (zora/limits.py; docs/operations.md, "Limits"). Each is
    # "N/period" ("30/minute", "20 per 10 minutes"); the defaults are far above what real use reaches.
    rate_sessions_per_address: str = "30/minute"
    rate_sessions_per_shop: str = "3000/minute"
    rate_proxy_sessions_per_customer: str = "30/minute"
    rate_conversations_per_address: str = "20/hour"
    rate_conversations_per_shop: str = "2000/hour"
    rate_messages_per_shopper: str = "30/minute"
    rate_messages_per_conversation: str = "60/minute"
    rate_messages_per_address: str = "120/minute"
    rate_messages_per_shop: str = "6000/minute"
    rate_uploads_per_conversation: str = "30/10 minutes"
    rate_uploads_per_address: str = "60/10 minutes"
    # Bytes of uploads one conversation may have streaming in at once.
    upload_bytes_in_flight_per_conversation: int = Field(default=32 * 1024 * 1024, ge=1024)
    rate_slash_commands_per_user: str = "30/minute"
    rate_webhooks_per_shop: str = "6000/minute"
    # Emails asking to confirm a typed address: per recipient (nobody's inbox is flooded through Zora)
    # and per client address (one visitor typing many addresses).
    rate_confirmation_emails_per_recipient: str = "3/day"
    rate_confirmation_emails_per_address: str = "10/hour"
    # Requests to the settings page's API (/admin/api/...) per shop: a page open is a few.
    rate_admin_requests_per_shop: str = "300/minute"
    # Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; empty: the direct peer is.
    trusted_proxies: list[str] = Field(default_factory=list)

    # `zora dev`.
    data_dir: Path = Path(".zora")
    demo_shop: str = "demo.myshopify.com"

    # Temporal over TLS: mTLS clusters (client certificate and key, maybe a private CA) and Temporal Cloud
    # (an API key, or a certificate). Files are PEM, read once at start. Checked by zora.services.
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None

    # Shopify webhooks. The body limit fits Shopify's largest orders: an order's JSON repeats every line
    # item in its fulfillments and refunds, with price sets, taxes and discounts each; hundreds of line
    # items reach a few MiB. 10 MiB leaves room while bounding what one unsigned request can make us read.
    shopify_webhook_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024)
    # Deliveries stored and waiting for their workflow start in one web process; when full, Shopify gets
    # a 503 with Retry-After and retries later.
    shopify_webhook_queue_size: int = Field(default=1000, ge=1, le=1_000_000)

    # The assistant's model: any OpenAI-compatible chat completions endpoint (issue 12). Unset base URL:
    # OpenAI's own API, except in `zora dev`, which then runs the demo model (zora/standins/openai/).
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    # One model call (a whole streamed answer) may take this long before it is abandoned and retried.
    openai_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Drafted actions (ai-actions, issue 12 §6): a draft nobody approves or denies within this is denied.
    assistant_action_timeout_minutes: float = Field(default=30.0, gt=0, le=1440)

    # What the model costs, in US dollars per million tokens (prompt, completion): each assistant turn's
    # cost estimate in its audit (ai-turns). 0: not estimated.
    openai_price_input_per_mtok: float = Field(default=0.0, ge=0, le=10_000)
    openai_price_output_per_mtok: float = Field(default=0.0, ge=0, le=10_000)

    # Metrics (zora/metrics.py, docs/operations.md "Metrics and traces"). The web app's GET /metrics wants
    # `Authorization: Bearer <METRICS_TOKEN>`; unset, it answers only in `zora dev`. METRICS_PORT opens a
    # separate plain endpoint (web and worker) on METRICS_HOST; TEMPORAL_METRICS_PORT the Temporal SDK's own.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    temporal_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Traces (zora/tracing.py): off unless the OTLP endpoint is set, e.g. http://otel-collector:4318.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "zora"

    # Staff sign-in outside Shopify admin (zora/staff.py, docs/staff.md). STAFF_JWT_SECRET signs staff
    # access tokens (at least 32 bytes); unset, a key derived from ZORA_SECRET_KEY is used.
    staff_jwt_secret: SecretStr | None = None
    staff_access_token_minutes: int = Field(default=10, ge=1, le=60)
    staff_refresh_token_days: int = Field(default=14, ge=1, le=90)
    # Sign-in attempts (password and code) per client address, and per client address and email: a
    # guesser elsewhere spends their own allowance, never the account owner's.
    rate_staff_sign_in_per_address: str = "30/10 minutes"
    rate_staff_sign_in_per_address_and_email: str = "10/10 minutes"

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        # `KEY=` in .env (as in .env.example) means "not set", not "set to an empty string".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        if not value.endswith("/"):
            raise ValueError("must end with '/' (slack_sdk joins method names onto it)")
        return value

    @field_validator("shopify_admin_base_url")
    @classmethod
    def _admin_url_template(cls, value: str) -> str:
        if "{shop}" not in value:
            raise ValueError("must contain {shop} (the shop's myshopify domain goes there)")
        return value.rstrip("/")

    @field_validator("zora_secret_key", "staff_jwt_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (HS256 keys shorter than the hash are weak)")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator(*RATE_SETTINGS)
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            item = parse_rate(value)
        except ValueError:
            item = None
        if item is None or item.amount < 1:
            raise ValueError(f"{value!r} is not a rate like '30/minute' or '20 per 10 minutes'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _openai_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.openai.com/v1")
        # The SDK joins paths such as /chat/completions onto it.
        return None if value is None else value.rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _one_sender(cls, value: str) -> str:
        # The From header of every email: one mailbox, nothing that could add a header.
        return str(parse_sender(value))

    def require(self, *names: str) -> None:
        """Stop with one clear line when a value a process needs is unset."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigError(f"{name.upper()} is required for this command but is not set")

    @property
    def add_to_slack(self) -> bool:
        """Whether shops connect their own Slack workspaces ("Add to Slack"): the app's client id and secret
        (the signing secret is required either way)."""
        return bool(self.slack_client_id and self.slack_client_secret)

    def require_slack(self, *, events: bool = True) -> None:
        """Stop with one clear line unless Slack is set up one of the two ways (docs/operations.md, "Slack:
        one workspace or many"): SLACK_BOT_TOKEN for one workspace, or Add to Slack (SLACK_CLIENT_ID and
        SLACK_CLIENT_SECRET) for many, with or without a SLACK_BOT_TOKEN workspace of the operator's own.
        `events`: the process takes Slack's events (web), which need the signing secret."""
        if events:
            self.require("slack_signing_secret")
        if self.slack_client_id and not self.slack_client_secret:
            raise ConfigError("SLACK_CLIENT_ID is set without SLACK_CLIENT_SECRET: Add to Slack needs both")
        if self.slack_client_secret and not self.slack_client_id:
            raise ConfigError("SLACK_CLIENT_SECRET is set without SLACK_CLIENT_ID: Add to Slack needs both")
        if self.slack_bot_token is None and not self.add_to_slack:
            raise ConfigError(
                "Slack is not set up: set SLACK_BOT_TOKEN (one workspace), or SLACK_CLIENT_ID and"
                " SLACK_CLIENT_SECRET (Add to Slack: each shop connects its own workspace)"
            )
        if self.slack_app_token is not None and self.slack_client_id:
            # Slack does not let a Socket Mode app be distributed to other workspaces: its events would
            # come from one workspace only, and the shops that added theirs would never hear their agents.
            raise ConfigError(
                "SLACK_APP_TOKEN (Socket Mode) serves one workspace and cannot be combined with Add to Slack"
                " (SLACK_CLIENT_ID): unset SLACK_APP_TOKEN and give Slack the Request URL"
                " <PUBLIC_URL>/slack/events, or unset SLACK_CLIENT_ID/SLACK_CLIENT_SECRET"
            )

    def with_values(self, **updates: object) -> Settings:
        """A validated copy (model_copy would skip validation and leave plain strings for secrets)."""
        return type(self)(_env_file=None, **{**self.model_dump(), **updates})

    def secret(self) -> str:
        self.require("zora_secret_key")
        assert self.zora_secret_key is not None
        return self.zora_secret_key.get_secret_value()

    def sealing_keys(self) -> list[str]:
        """The current secret first, then the previous ones (zora.security.unseal)."""
        previous = self.zora_previous_secret_keys.get_secret_value() if self.zora_previous_secret_keys else ""
        return [self.secret(), *(k.strip() for k in previous.split(",") if k.strip())]


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid setting " + "; ".join(lines)) from None
