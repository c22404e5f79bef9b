"""Staff accounts of Zora's own sign-in (issue 11 §5): accounts, sign-in codes, invitations."""

from __future__ import annotations

from dataclasses import dataclass

from zora.db import Executor, Row


@dataclass(frozen=True)
class StaffAccount:
    id: int
    shop_id: int
    shop: str
    email: str
    password_hash: str | None
    role: str
    password_version: int


_ACCOUNT = (
    "SELECT a.id, a.shop_id, s.domain AS shop, a.email, a.password_hash, a.role, a.password_version"
    " FROM staff_accounts a JOIN shops s ON s.id = a.shop_id"
)


def _account(row: Row | None) -> StaffAccount | None:
    if row is None:
        return None
    return StaffAccount(
        id=row["id"],
        shop_id=row["shop_id"],
        shop=row["shop"],
        email=row["email"],
        password_hash=row["password_hash"],
        role=row["role"],
        password_version=row["password_version"],
    )


async def by_email(conn: Executor, email: str) -> StaffAccount | None:
    """The account with this address, while its shop has Zora installed."""
    row = await conn.fetchrow(_ACCOUNT + " WHERE a.email = $1 AND s.uninstalled_at IS NULL", email.lower())
    return _account(row)


async def by_id(conn: Executor, account_id: int) -> StaffAccount | None:
    row = await conn.fetchrow(_ACCOUNT + " WHERE a.id = $1 AND s.uninstalled_at IS NULL", account_id)
    return _account(row)


async def create(conn: Executor, shop_id: int, email: str, role: str, password_hash: str | None) -> int | None:
    """The new account's id; None when the address already has an account."""
    account_id: int | None = await conn.fetchval(
        "INSERT INTO staff_accounts (shop_id, email, role, password_hash) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (email) DO NOTHING RETURNING id",
        shop_id,
        email.lower(),
        role,
        password_hash,
    )
    return account_id


async def set_password(conn: Executor, account_id: int, password_hash: str) -> int:
    """Stores a new hash; returns the new password version (older access tokens carry the old one)."""
    version: int = await conn.fetchval(
        "UPDATE staff_accounts SET password_hash = $2, password_version = password_version + 1"
        " WHERE id = $1 RETURNING password_version",
        account_id,
        password_hash,
    )
    return version


async def add_code(conn: Executor, challenge: str, account_id: int, code_hash: str, ttl_seconds: int) -> None:
    # An account has one live challenge at a time: asking again ends the earlier ones.
    await conn.execute(
        "UPDATE staff_sign_in_codes SET used_at = now() WHERE account_id = $1 AND used_at IS NULL", account_id
    )
    await conn.execute(
        "INSERT INTO staff_sign_in_codes (challenge, account_id, code_hash, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        challenge,
        account_id,
        code_hash,
        ttl_seconds,
    )


@dataclass(frozen=True)
class CodeRow:
    account_id: int
    code_hash: str
    attempts: int


async def live_code(conn: Executor, challenge: str, max_attempts: int) -> CodeRow | None:
    """The challenge, locked and with this attempt counted, while it is unused, unexpired and has
    attempts left (call inside a transaction)."""
    row = await conn.fetchrow(
        "UPDATE staff_sign_in_codes SET attempts = attempts + 1"
        " WHERE challenge = $1 AND used_at IS NULL AND expires_at > now() AND attempts < $2"
        " RETURNING account_id, code_hash, attempts",
        challenge,
        max_attempts,
    )
    if row is None:
        return None
    return CodeRow(account_id=row["account_id"], code_hash=row["code_hash"], attempts=row["attempts"])


async def use_code(conn: Executor, challenge: str) -> None:
    await conn.execute("UPDATE staff_sign_in_codes SET used_at = now() WHERE challenge = $1", challenge)


async def add_invitation(conn: Executor, token_hash: str, account_id: int, invited_by: str, ttl_seconds: int) -> None:
    await conn.execute(
        "INSERT INTO staff_invitations (token_hash, account_id, invited_by, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        token_hash,
        account_id,
        invited_by,
        ttl_seconds,
    )


async def take_invitation(conn: Executor, token_hash: str) -> int | None:
    """Marks the invitation used and returns its account, when it is unused and unexpired."""
    account_id: int | None = await conn.fetchval(
        "UPDATE staff_invitations SET used_at = now()"
        " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING account_id",
        token_hash,
    )
    return account_id


async def invitation_open(conn: Executor, token_hash: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM staff_invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()", token_hash
    )
    return found is not None
