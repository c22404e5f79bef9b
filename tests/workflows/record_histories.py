"""Records ConversationWorkflow histories for the replay test (tests/workflows/test_replay.py).

Run it after a deliberate change to the workflow's commands, and commit the new files, keeping the
old ones: every recorded history must still replay, or running conversations would break on
deploy. `python -m tests.workflows.record_histories` (uses the same embedded servers as the tests).
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from tests.harness import AGENT, CHANNEL, running_zora
from tests.widget.test_files import png
from zora import db
from zora.embedded import EmbeddedPostgres, EmbeddedRedis, TemporalOptions, embedded_servers
from zora.embedded_env import ensure_runtime_dir
from zora.models import PostPendingToSlack, SettingsChanged, conversation_workflow_id

OUT = Path(__file__).parent / "histories"


class _Infra:
    def __init__(self, pg: EmbeddedPostgres, rd: EmbeddedRedis, temporal_address: str) -> None:
        self.postgres, self.redis, self.temporal_address = pg, rd, temporal_address


async def record() -> None:
    ensure_runtime_dir()
    with tempfile.TemporaryDirectory(prefix="zr-") as tmp:
        async with embedded_servers(
            postgres=Path(tmp) / "pg", redis=Path(tmp) / "redis" / "r.rdb", temporal=TemporalOptions()
        ) as servers:
            assert servers.postgres and servers.redis
            url = servers.postgres.ensure_database("record")
            await db.migrate(url)
            infra = _Infra(servers.postgres, servers.redis, servers.temporal_address)
            async with running_zora(infra, url) as zora:
                session = await zora.session()
                shopper = await zora.shopper(session["token"])
                assert (await shopper.send("hello", client_id="a"))["ok"]
                root = (await zora.standin.wait_for_posts(2))[0]
                cid = session["conversation_id"]
                await zora.standin.press_button(CHANNEL, root["ts"], "zora_claim", cid, user=AGENT)
                await zora.standin.press_button(CHANNEL, root["ts"], "zora_release", cid, user=AGENT)
                assert await zora.standin.agent_reply(CHANNEL, root["ts"], "hi!", user=AGENT) == 200
                # The merchant saves the shop's settings (zora/admin.py): the settings_changed signal.
                await zora.services.temporal.get_workflow_handle(
                    conversation_workflow_id(zora.shop, uuid.UUID(cid))
                ).signal("settings_changed", SettingsChanged(auto_assign=False, transcript_on_resolve=False))
                # An agent shares a file: the files_shared signal and the copy_agent_files activity.
                assert (
                    await zora.standin.share_file(CHANNEL, root["ts"], "label.png", png(), "image/png", "here") == 200
                )
                for _ in range(200):
                    rows = await zora.fetch("SELECT state FROM files WHERE name = 'label.png'")
                    if rows and rows[0]["state"] == "ready":
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the agent's file was never copied")
                await zora.standin.press_button(CHANNEL, root["ts"], "zora_resolve", cid, user=AGENT)
                await zora.standin.press_button(CHANNEL, root["ts"], "zora_reopen", cid, user=AGENT)
                handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
                zora.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
                await handle.signal("deliver", PostPendingToSlack(reason="recorded"))
                assert (await shopper.send("again", client_id="b"))["ok"]
                await zora.standin.wait_for_posts(3, timeout=20)
                await handle.signal("close", {"reason": "recorded"})
                await handle.result()
                history = await handle.fetch_history()
                OUT.mkdir(exist_ok=True)
                path = OUT / f"conversation-{len(list(OUT.glob('conversation-*.json'))) + 1:03d}.json"
                path.write_text(history.to_json())
                print(f"wrote {path} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(record())
