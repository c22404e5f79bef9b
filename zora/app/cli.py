"""The `zora` command."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import sys
from dataclasses import fields

from zora.embedded_env import ensure_runtime_dir
from zora.errors import ConfigError
from zora.logs import setup_logging, setup_sentry
from zora.settings import Settings, load_settings

log = logging.getLogger("zora")


def _positive(text: str) -> int:
    value = _not_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zora", description="Zora: Shopify storefront chat <-> Slack, on Temporal.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run everything locally on the embedded default (PostgreSQL, Redis, Temporal)")
    dev.add_argument("--data-dir", help="where embedded services keep their data (default ./.zora)")
    dev.add_argument("--port", type=int, help="web port (default 8000)")
    dev.add_argument("--slack-port", type=int, default=8090, help="port of the local Slack stand-in (default 8090)")
    dev.add_argument("--temporal-port", type=int, default=7233, help="embedded Temporal frontend port (default 7233)")
    dev.add_argument("--temporal-ui-port", type=int, default=8233, help="Temporal Web UI port (default 8233)")
    dev.add_argument(
        "--shopify-port", type=int, default=8091, help="port of the local Shopify stand-in (default 8091, 0: any)"
    )
    dev.add_argument("--smtp-port", type=int, default=1025, help="mail catcher's SMTP port (default 1025, 0: any)")
    dev.add_argument("--mail-port", type=int, default=8025, help="mail catcher's web page port (default 8025, 0: any)")
    dev.add_argument(
        "--openai-port", type=int, default=0, help="port of the demo model's OpenAI stand-in (default 0: any)"
    )
    dev.add_argument(
        "--web",
        type=_positive,
        metavar="N",
        help="run N web processes sharing the web port (SO_REUSEPORT), as behind a load balancer;"
        " with --web or --workers, web and worker leave the `zora dev` process (default: one process for all)",
    )
    dev.add_argument(
        "--workers", type=_not_negative, metavar="M", help="run M worker processes (default 1 with --web; 0: none)"
    )

    web = sub.add_parser("web", help="run the web process against external services")
    web.add_argument("--port", type=int, help="listen port (default PORT or 8000)")
    sub.add_parser("worker", help="run a Temporal worker against external services")
    sub.add_parser("migrate", help="apply pending database migrations (safe to run twice, or concurrently)")
    sub.add_parser("doctor", help="check services, Slack, and every shop's Slack channel; exit 1 on a problem")
    from zora.shopify.cli import add_commands as add_shopify_commands

    add_shopify_commands(sub)
    from zora.app.staff_cli import add_commands as add_staff_commands

    add_staff_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "dev":
            ensure_runtime_dir()
            from zora.app.dev import DevOptions, run_dev

            # Each option of `zora dev` is the flag of the same name.
            opts = DevOptions(**{f.name: getattr(args, f.name) for f in fields(DevOptions) if hasattr(args, f.name)})
            setup_logging("text", settings.log_level)
            asyncio.run(run_dev(settings, opts))
        elif args.command == "web":
            _run_web(settings, args.port)
        elif args.command == "worker":
            _setup(settings)
            asyncio.run(_run_worker(settings))
        elif args.command == "migrate":
            _setup(settings)
            asyncio.run(_migrate(settings))
        elif args.command == "doctor":
            from zora.doctor import doctor

            setup_logging(settings.log_format, "WARNING")
            settings.require("database_url", "redis_url", "temporal_address")
            return asyncio.run(doctor(settings))
        elif args.command == "shopify":
            from zora.shopify.cli import run as run_shopify

            return run_shopify(args, settings)
        elif args.command == "staff":
            from zora.app.staff_cli import run as run_staff

            return run_staff(args, settings)
    except ConfigError as exc:
        print(f"zora: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"zora: error: a port is already in use ({exc.strerror}); stop the other process or choose"
            " other ports (zora dev --port, --slack-port, --temporal-port, --temporal-ui-port, --shopify-port,"
            " --smtp-port, --mail-port, --openai-port)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _setup(settings: Settings) -> None:
    setup_logging(settings.log_format, settings.log_level)
    if setup_sentry(settings.sentry_dsn, settings.environment):
        log.info("sentry initialised")


def _run_web(settings: Settings, port: int | None) -> None:
    from aiohttp import web

    from zora.app.web import create_app
    from zora.metrics import start_process_metrics
    from zora.tracing import setup_tracing

    settings.require(
        "database_url",
        "redis_url",
        "temporal_address",
        "zora_secret_key",
    )
    settings.require_slack()
    _setup(settings)
    start_process_metrics(settings)
    setup_tracing(settings)
    web.run_app(create_app(settings), host=settings.host, port=port or settings.port, print=None)


async def _run_worker(settings: Settings) -> None:
    from zora.app.assembly import worker_for
    from zora.metrics import start_process_metrics
    from zora.services import open_services
    from zora.tracing import setup_tracing

    # ZORA_SECRET_KEY: the worker opens the stored Shopify access tokens (reconciliation, write-back).
    settings.require("database_url", "redis_url", "temporal_address", "zora_secret_key")
    settings.require_slack(events=False)
    start_process_metrics(settings)
    setup_tracing(settings)
    async with open_services(settings) as services, worker_for(services, sweep_schedule=True) as worker:
        log.info("worker polling task queue %s", settings.temporal_task_queue)
        await worker.run()


async def _migrate(settings: Settings) -> None:
    from zora import db

    settings.require("database_url")
    assert settings.database_url
    applied = await db.migrate(settings.database_url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date")


if __name__ == "__main__":
    sys.exit(main())
