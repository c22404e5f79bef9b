"""The data layer: every SQL statement Zora runs lives in this package (and the migrations).

One module per table group:
- `shops`: shops, their Slack channel and health, settings and their history, installation, token,
  Shopify sync watermarks
- `conversations`: status, assignment, deadlines, the Slack card's state, transcript emails, lists
- `messages`: the transcript's rows and their Slack posting state (zora/transcript.py is its domain layer)
- `threads`: slack_threads
- `files`: shoppers' uploads and copies of agents' files
- `receipts`: what shoppers saw and were emailed (shopper_receipts, email_digests)
- `shoppers`: token versions, profiles, emailed codes
- `customers`: Shopify customers as agents look them up and write back
- `shopify`: upserts of Shopify records, compliance export and erasure, Slack erasures
- `webhooks`: the Shopify webhook inbox
- `schema`: migration bookkeeping, the readiness ping, the database's clock

Functions take the connection (or pool) to run on, so a caller that needs several statements in one
transaction keeps them there, and no function adds a round trip the caller did not already make.
Results are typed (dataclasses, models, or zora.db.Row where a whole table row is handed on).

Every statement on a shop's data is scoped by its shop, by an identifier that belongs to exactly one
shop's row and that Zora itself handed out (a conversation's or file's UUID, a webhook inbox id), or
by the Slack workspace whose threads name the shop. The sweeps (undelivered messages, stuck files,
expired codes and uploads, unstarted webhooks, reply backfill, broken Slack channels) and `zora doctor`
read across shops on purpose. tests/test_sql_lint.py fails when SQL appears in source outside this
package and zora/migrations.
"""

from __future__ import annotations

from zora.db import Conn, Executor, Pool, Row

__all__ = ["Conn", "Executor", "Pool", "Row"]
