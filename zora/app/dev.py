"""`zora dev`: the whole of Zora on one machine, on the embedded default, in one process (or, with
`--web N --workers M`, N web and M worker processes of its own behind one port: zora/app/cluster.py)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zora import db, processes
from zora.app.assembly import run_worker, serving_web, worker_for
from zora.app.cluster import WEB, WORKER, Cluster, Node
from zora.db import Pool
from zora.embedded import TemporalOptions, embedded_servers
from zora.errors import ConfigError
from zora.security import kept_secret
from zora.services import open_services
from zora.settings import Settings
from zora.store import shops as sshops
from zora.temporal import ensure_sweep_schedule
from zora.watchdog import POSTGRES_DIR, REDIS_RDB, TEMPORAL_DB, DataFolder, RunRecord

if TYPE_CHECKING:
    from zora.standins.shopify import ShopifyStandIn

log = logging.getLogger("zora.dev")

DEMO_CHANNEL_ID = "C0ZORADEMO"
DEMO_CHANNEL_NAME = "support"


@dataclass
class DevOptions:
    data_dir: str | None = None
    port: int | None = None
    slack_port: int = 8090
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    smtp_port: int = 1025
    mail_port: int = 8025
    shopify_port: int = 8091
    # The OpenAI stand-in (the assistant's demo model) when OPENAI_BASE_URL is unset; 0: any free port.
    openai_port: int = 0
    # Web and worker processes of their own (zora/app/cluster.py); both None: web and worker in this process.
    web: int | None = None
    workers: int | None = None

    @property
    def cluster(self) -> bool:
        return self.web is not None or self.workers is not None


def _say(line: str) -> None:
    print(line, flush=True)


def check_ports(wanted: list[tuple[str, int, str, str]]) -> None:
    """Stop with one line naming the port and its holder before anything starts, rather than with a
    server's own error half-way through the start. `wanted`: (host, port, what, flag); port 0 is any."""
    for host, port, what, flag in wanted:
        if port == 0:
            continue
        with socket.socket() as probe:
            # As the servers bind: a port left in TIME_WAIT by a previous run is free, a listener is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                holder = processes.port_holder(port)
                who = f"pid {holder[0]} ({holder[1][:100]})" if holder else "another process"
                raise ConfigError(
                    f"a port is already in use: {port} ({what}) is held by {who};"
                    f" stop it or choose another port with {flag}"
                ) from None


async def ensure_shop(pool: Pool, domain: str, name: str, channel: str | None) -> int:
    async with pool.acquire() as conn:
        return await sshops.ensure_dev_shop(conn, domain, name, channel)


def _ports(settings: Settings, opts: DevOptions, web_port: int) -> list[tuple[str, int, str, str]]:
    """The ports this run will listen on, given what it starts."""
    wanted = [(settings.host, web_port, "web", "--port")]
    if settings.temporal_address is None:
        wanted += [
            ("127.0.0.1", opts.temporal_port, "Temporal", "--temporal-port"),
            ("127.0.0.1", opts.temporal_ui_port, "Temporal UI", "--temporal-ui-port"),
        ]
    if _wants_slack_standin(settings):
        wanted.append(("127.0.0.1", opts.slack_port, "Slack stand-in", "--slack-port"))
    if settings.shopify_api_key is None:
        wanted.append(("127.0.0.1", opts.shopify_port, "Shopify stand-in", "--shopify-port"))
    if settings.smtp_host is None:
        wanted += [
            ("127.0.0.1", opts.smtp_port, "mail catcher SMTP", "--smtp-port"),
            ("127.0.0.1", opts.mail_port, "mail catcher page", "--mail-port"),
        ]
    if settings.openai_base_url is None:
        wanted.append(("127.0.0.1", opts.openai_port, "OpenAI stand-in", "--openai-port"))
    return wanted


async def _supervise(nodes: Cluster, stop: asyncio.Event) -> None:
    """Run until asked to stop. A node that ends is reported and not restarted: the others carry on, as
    they would in production; with no web (or no worker, when there were some) left, the run stops."""
    reported: set[int] = set()
    while not stop.is_set():
        stop_task = asyncio.create_task(stop.wait())
        exit_task = asyncio.create_task(_next_exit(nodes, reported))
        done, _ = await asyncio.wait({stop_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        exit_task.cancel()
        if exit_task not in done:
            return
        node = exit_task.result()
        reported.add(node.process.pid)
        if stop.is_set():
            return  # a Ctrl-C reaches the nodes too: they stop with this run, nothing to report
        left = [n.describe() for n in nodes.alive()]
        _say(
            f"zora dev: {node.describe()} exited with code {node.process.returncode};"
            f" still running: {', '.join(left) or 'nothing'}"
        )
        if not nodes.alive(WEB) or (nodes.of(WORKER) and not nodes.alive(WORKER)):
            _say("zora dev: no web process or no worker left")
            return


async def _next_exit(nodes: Cluster, reported: set[int]) -> Node:
    while True:
        for node in nodes.nodes:
            if node.process.pid not in reported and node.process.poll() is not None:
                return node
        await asyncio.sleep(0.2)


def _end_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    # Closing the pipe is what a crash would do; this run stopped its servers, so the watchdog just exits.
    assert watchdog.stdin is not None
    watchdog.stdin.close()
    try:
        watchdog.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log.warning("the watchdog (pid %s) did not exit", watchdog.pid)


@dataclass
class Sandbox:
    """What `zora dev` runs in place of the SaaS that are not configured, and the settings pointing at it."""

    updates: dict[str, Any]
    channel: str | None
    inbox_url: str | None = None
    shopify: ShopifyStandIn | None = None
    mail_page: str | None = None
    temporal_ui: str | None = None
    openai_url: str | None = None


async def run_dev(settings: Settings, opts: DevOptions) -> None:
    data_dir = Path(opts.data_dir or settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = opts.port or settings.port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with contextlib.AsyncExitStack() as stack:
        folder = await _claim(stack, data_dir, _ports(settings, opts, port))
        sandbox = await _sandbox(stack, settings, opts, data_dir, port, folder)
        settings = settings.with_values(**sandbox.updates)
        applied = await db.migrate(settings.database_url or "")
        _say(f"  database migrated ({len(applied)} new migration(s))")

        services = await stack.enter_async_context(open_services(settings))
        shop_id = await ensure_shop(services.pool, settings.demo_shop, "Zora demo store", sandbox.channel)
        if sandbox.openai_url is not None:
            from zora.shopify.dev import enable_demo_assistant

            await enable_demo_assistant(services.pool, shop_id)
        if sandbox.shopify is not None:
            from zora.shopify.dev import install_demo

            await install_demo(services, sandbox.shopify, settings.demo_shop)
        await ensure_sweep_schedule(services.temporal, settings.temporal_task_queue)
        if opts.cluster:
            nodes = await _start_nodes(stack, settings, opts, port, folder)
            _welcome(settings, port, sandbox, nodes)
            await _supervise(nodes, stop)
            _say("\nzora dev: stopping ...")
        else:
            await stack.enter_async_context(serving_web(settings, services, port=port, dev=True))
            worker = await stack.enter_async_context(worker_for(services))
            _welcome(settings, port, sandbox, None)
            await run_worker(worker, stop, stopping=lambda: _say("\nzora dev: stopping ..."))
    _say("zora dev: stopped.")


async def _claim(
    stack: contextlib.AsyncExitStack, data_dir: Path, ports: list[tuple[str, int, str, str]]
) -> DataFolder:
    """The data folder, this run's alone: what a crashed run left running is stopped, the ports are checked,
    and a watchdog stops this run's servers should it die without stopping them itself."""
    _say(f"zora dev: data in {data_dir}")
    folder = DataFolder(data_dir)
    await asyncio.to_thread(folder.claim)
    stack.callback(folder.release)
    stopped = await asyncio.to_thread(folder.sweep)
    if stopped:
        _say(f"  stopped what a crashed run left running: {', '.join(s.describe() for s in stopped)}")
    check_ports(ports)
    folder.write_record(RunRecord(owner=os.getpid()))
    watchdog = folder.start_watchdog()
    # Registered before the servers, so these run after they have stopped: the watchdog finds nothing to do.
    stack.callback(_end_watchdog, watchdog)
    stack.callback(folder.release)
    stack.callback(folder.mark_stopped)
    return folder


async def _sandbox(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    opts: DevOptions,
    data_dir: Path,
    port: int,
    folder: DataFolder,
) -> Sandbox:
    """The embedded servers and the stand-ins for whatever the settings leave unset."""
    sandbox = Sandbox(
        updates={"environment": "development", "log_format": "text"}, channel=settings.slack_default_channel
    )
    if settings.zora_secret_key is None:
        sandbox.updates["zora_secret_key"] = kept_secret(data_dir / "secret.key")
    await _embedded(stack, settings, opts, data_dir, folder, sandbox)
    if _wants_slack_standin(settings):
        await _slack_standin(stack, opts, data_dir, port, sandbox)
        _add_to_slack(settings, port, sandbox)
    if settings.shopify_api_key is None:
        from zora.shopify.dev import start_standin

        sandbox.shopify, shopify_updates = await start_standin(stack, data_dir, port, port=opts.shopify_port)
        sandbox.updates.update(shopify_updates)
    if settings.smtp_host is None:
        await _mail_catcher(stack, settings, opts, port, sandbox)
    from zora.standins.openai.dev import model_standin

    # The assistant's demo model, unless OPENAI_BASE_URL names a model server.
    sandbox.openai_url, openai_updates = await model_standin(stack, settings, opts.openai_port)
    sandbox.updates.update(openai_updates)
    return sandbox


async def _embedded(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    opts: DevOptions,
    data_dir: Path,
    folder: DataFolder,
    sandbox: Sandbox,
) -> None:
    temporal = None
    if settings.temporal_address is None:
        temporal = TemporalOptions(
            db_file=data_dir / TEMPORAL_DB, port=opts.temporal_port, ui=True, ui_port=opts.temporal_ui_port
        )
    servers = await stack.enter_async_context(
        embedded_servers(
            postgres=data_dir / POSTGRES_DIR if settings.database_url is None else None,
            redis=data_dir / REDIS_RDB if settings.redis_url is None else None,
            temporal=temporal,
            on_starting=lambda name: _say(f"  starting embedded {name} ..."),
            # Each recorded the moment it is known: the watchdog stops it if this run dies.
            on_process=folder.add_server,
        )
    )
    if servers.postgres is not None:
        sandbox.updates["database_url"] = await asyncio.to_thread(servers.postgres.ensure_database, "zora")
    if servers.redis is not None:
        sandbox.updates["redis_url"] = servers.redis.url
    if servers.temporal is not None:
        sandbox.updates["temporal_address"] = f"127.0.0.1:{opts.temporal_port}"
        sandbox.temporal_ui = f"http://127.0.0.1:{opts.temporal_ui_port}"


async def _slack_standin(
    stack: contextlib.AsyncExitStack, opts: DevOptions, data_dir: Path, port: int, sandbox: Sandbox
) -> None:
    from zora.standins.slack import SlackStandIn

    bot_token, signing_secret = (
        "xoxb-zora-dev-standin",
        kept_secret(data_dir / "slack-signing.key"),
    )
    standin = SlackStandIn(
        bot_token=bot_token,
        signing_secret=signing_secret,
        events_url=f"http://127.0.0.1:{port}/slack/events",
    )
    standin.add_channel(DEMO_CHANNEL_ID, DEMO_CHANNEL_NAME)
    standin.add_user("U0AGENT001", "ada", "Ada (you)")
    await standin.start(port=opts.slack_port)
    stack.push_async_callback(standin.stop)
    sandbox.updates.update(
        slack_bot_token=bot_token, slack_signing_secret=signing_secret, slack_api_url=standin.base_url
    )
    sandbox.channel = DEMO_CHANNEL_ID
    sandbox.inbox_url = standin.inbox_url


def _wants_slack_standin(settings: Settings) -> bool:
    """Slack is the stand-in unless the settings name a real Slack app: a workspace's bot token, or Add to
    Slack's client id and secret (a real app that workspaces are added to, with no workspace of its own)."""
    return settings.slack_bot_token is None and not settings.add_to_slack


def _add_to_slack(settings: Settings, port: int, sandbox: Sandbox) -> None:
    """ "Add to Slack" on the settings page works against the stand-in: its authorize page and
    oauth.v2.access take the stand-in app's client id and secret. Slack sends the browser back to PUBLIC_URL."""
    from zora.standins.slack.oauth import CLIENT_ID, CLIENT_SECRET

    if settings.slack_client_id is None:
        sandbox.updates.update(slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)
    if settings.public_url is None:
        sandbox.updates["public_url"] = f"http://{settings.host}:{port}"


async def _mail_catcher(
    stack: contextlib.AsyncExitStack, settings: Settings, opts: DevOptions, port: int, sandbox: Sandbox
) -> None:
    from zora.mail_catcher import MailCatcher

    # Emails to shoppers (missed replies) are caught locally and shown on a page.
    catcher = MailCatcher()
    await catcher.start(smtp_port=opts.smtp_port, web_port=opts.mail_port)
    stack.push_async_callback(catcher.stop)
    sandbox.updates.update(smtp_host=catcher.host, smtp_port=catcher.smtp_port, smtp_tls="none")
    sandbox.mail_page = catcher.page_url
    if "widget_link_url" not in settings.model_fields_set:
        # The email's link reopens the conversation on the demo storefront.
        sandbox.updates["widget_link_url"] = f"http://{settings.host}:{port}/demo?shop={{shop}}"
    if settings.public_url is None:
        # Links in emails that come back to Zora (staff invitations, address confirmations) need it.
        sandbox.updates["public_url"] = f"http://{settings.host}:{port}"


async def _start_nodes(
    stack: contextlib.AsyncExitStack, settings: Settings, opts: DevOptions, port: int, folder: DataFolder
) -> Cluster:
    nodes = Cluster(run=str(folder.path))
    # Before any node starts: a failed start still stops the ones already running.
    stack.push_async_callback(nodes.stop)
    web_count, worker_count = opts.web or 1, opts.workers if opts.workers is not None else 1
    _say(f"  starting {web_count} web process(es) on port {port} and {worker_count} worker process(es) ...")
    # Each recorded the moment it exists, like the servers: the watchdog stops it if this run dies.
    await nodes.start_web(settings, web_count, port=port, dev=True, on_start=folder.add_server)
    for _ in range(worker_count):
        await nodes.start(WORKER, settings, on_start=folder.add_server)
    return nodes


def _welcome(settings: Settings, port: int, sandbox: Sandbox, nodes: Cluster | None) -> None:
    base = f"http://{settings.host}:{port}"
    _say("")
    _say("Zora is running. Open:")
    _say(f"  demo storefront   {base}/demo")
    if sandbox.inbox_url:
        _say(f"  Slack (stand-in)  {sandbox.inbox_url}   <- no SLACK_BOT_TOKEN set: play the agent here")
    else:
        _say(f"  Slack             real workspace, channel {sandbox.channel or '(set SLACK_DEFAULT_CHANNEL)'}")
    if sandbox.temporal_ui:
        _say(f"  Temporal UI       {sandbox.temporal_ui}")
    _say(f"  health            {base}/readyz")
    if sandbox.mail_page:
        _say(f"  email (catcher)   {sandbox.mail_page}   <- replies a shopper missed are emailed here")
    if sandbox.shopify is not None:
        _say("  Shopify (stand-in) demo shop seeded; send webhooks with `zora shopify trigger orders/paid`")
        _say(f"  settings page     {sandbox.shopify.admin_frame_url(settings.demo_shop)}   <- Shopify admin stand-in")
        _say(f"  install a shop    {sandbox.shopify.listing_url}   <- a new shop's path: Install, Add to Slack")
    _say(f"  staff sign-in     {base}/staff   <- invite staff from the settings page (docs/staff.md)")
    if sandbox.openai_url:
        _say(f"  AI model (stand-in) {sandbox.openai_url}   <- the demo model; OPENAI_BASE_URL sets a real one")
    if nodes is not None:
        _say("  processes         " + ", ".join(n.describe() for n in nodes.nodes))
    _say("Press Ctrl-C to stop.")
