"""customers/redact reaches Slack: the shopper's words and files Zora posted there are deleted, and
the conversation's card no longer names them."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.harness import CHANNEL
from tests.shopify.harness import running_shopify
from tests.widget.test_files import png, upload
from zora.shopify.samples import sample_payload


async def test_redact_deletes_the_shoppers_words_in_slack(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        created = sample_payload("customers/create", zora.shop)
        assert (await sz.deliver("customers/create", created, shop=zora.shop)).status == "processed"
        rows = await zora.fetch(
            "SELECT id, email FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2",
            zora.shop_id,
            created["id"],
        )
        customer_id, email = rows[0]["id"], rows[0]["email"]
        # Signed in through the app proxy: the shopper's token is bound to the customer.
        _, session = await sz.proxy_session(created["id"])
        async with zora.services.pool.acquire() as conn:
            await conn.execute(
                "UPDATE shoppers SET email = $3 WHERE id = $1::uuid AND customer_id = $2",
                session["shopper_id"],
                customer_id,
                email,
            )
        shopper = await zora.shopper(session["token"])
        for text in ("my address is 1 Main St", "and my phone is 555"):
            assert (await shopper.send(text))["ok"]
        root, first, second = await zora.standin.wait_for_posts(3)
        # One file goes in as a note (the app lacked files:write then), one as a real upload.
        _, noted = await upload(zora, shopper.token, png(), name="my-bill.png")
        zora.standin.fail("files.getUploadURLExternal", "missing_scope")
        sent = await shopper.call("message", {"client_id": "bill", "body": "", "files": [noted["file"]["id"]]})
        await shopper.wait_for(
            lambda: any(s["seq"] == sent["seq"] and s["status"] == "delivered" for s in shopper.statuses)
        )
        note = next(p for p in zora.standin.posted if "my-bill.png" in p["text"])
        _, uploaded = await upload(zora, shopper.token, png(), name="my-id-card.png")
        sent = await shopper.call("message", {"client_id": "photo", "body": "", "files": [uploaded["file"]["id"]]})
        await shopper.wait_for(
            lambda: any(s["seq"] == sent["seq"] and s["status"] == "delivered" for s in shopper.statuses)
        )
        slack_file = zora.standin.uploads[0]["id"]
        assert email in json.dumps(root["blocks"])
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "noted") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))

        redact = sample_payload("customers/redact", zora.shop)
        redact["customer"] = {**redact.get("customer", {}), "id": created["id"], "email": email}
        assert (await sz.deliver("customers/redact", redact, shop=zora.shop)).status == "processed"

        assert {d["ts"] for d in zora.standin.deleted} == {first["ts"], second["ts"], note["ts"]}
        # The photo is gone from Slack and from Zora.
        assert slack_file not in zora.standin.files
        assert await zora.fetch("SELECT 1 FROM files WHERE shop_id = $1", zora.shop_id) == []
        async with zora.http.get(zora.base_url + uploaded["file"]["url"]) as resp:
            assert resp.status == 404
        texts = [m["text"] for m in zora.standin.thread(CHANNEL, root["ts"])]
        assert "my address is 1 Main St" not in texts and "and my phone is 555" not in texts
        card = zora.standin.thread(CHANNEL, root["ts"])[0]
        assert email not in json.dumps(card["blocks"]) and email not in card["text"]


async def test_data_request_export_is_announced_and_printable(infra: Any, database_url: str) -> None:
    import re

    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        created = sample_payload("customers/create", zora.shop)
        assert (await sz.deliver("customers/create", created, shop=zora.shop)).status == "processed"
        request = sample_payload("customers/data_request", zora.shop)
        request["customer"] = {**request.get("customer", {}), "id": created["id"], "email": created["email"]}
        assert (await sz.deliver("customers/data_request", request, shop=zora.shop)).status == "processed"
        announcement = next(p for p in zora.standin.posted if "zora shopify export" in p["text"])
        assert announcement["channel"] == CHANNEL and not announcement.get("thread_ts")
        export_id = re.search(r"zora shopify export (\d+)", announcement["text"]).group(1)  # type: ignore[union-attr]
        code, out, err = await _cli(database_url, "shopify", "export", export_id)
        assert code == 0, err
        export = json.loads(out)
        assert [c["email"] for c in export["customers"]] == [created["email"]]
        code, out, err = await _cli(database_url, "shopify", "export", "999999")
        assert code == 1 and "no export 999999" in err


async def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zora.app.cli",
        *args,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_shop_redact_deletes_what_zora_posted_in_slack_for_the_shop(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        shopper = await zora.shopper()
        assert (await shopper.send("my card number is secret"))["ok"]
        root, words = await zora.standin.wait_for_posts(2)
        _, uploaded = await upload(zora, shopper.token, png(), name="passport.png")
        sent = await shopper.call("message", {"client_id": "p", "body": "", "files": [uploaded["file"]["id"]]})
        await shopper.wait_for(
            lambda: any(s["seq"] == sent["seq"] and s["status"] == "delivered" for s in shopper.statuses)
        )
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "thanks, noted") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        async with zora.services.pool.acquire() as conn:
            await conn.execute(
                "UPDATE shops SET access_token = NULL, uninstalled_at = now() WHERE id = $1", zora.shop_id
            )

        outcome = await sz.deliver("shop/redact", sample_payload("shop/redact", zora.shop), shop=zora.shop)
        assert outcome.status == "processed"

        # The shopper's words, the card and the photo are gone from Slack; the agent's reply is theirs.
        assert {d["ts"] for d in zora.standin.deleted} == {root["ts"], words["ts"]}
        assert zora.standin.uploads[0]["id"] not in zora.standin.files
        # Like Slack, the card leaves a tombstone that keeps the thread's replies.
        assert [m["text"] for m in zora.standin.thread(CHANNEL, root["ts"]) if m.get("text")] == [
            "This message was deleted.",
            "thanks, noted",
        ]
        assert await zora.fetch("SELECT 1 FROM shops WHERE id = $1", zora.shop_id) == []
        assert await zora.fetch("SELECT 1 FROM slack_erasures") == []
