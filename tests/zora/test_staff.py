"""Zora's own staff sign-in (zora/staff.py, zora/staff_web.py): password, emailed code, access and
refresh tokens, sessions, roles, and the admin API taking staff tokens for their own shop only."""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from typing import Any

import jwt
import pytest

from tests.harness import Zora
from tests.helpers import smtp_options, wait_for_mail
from zora import staff
from zora.app.dev import ensure_shop
from zora.app.staff_cli import add_account, read_password
from zora.mail_catcher import MailCatcher
from zora.store import staff as sstaff

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {
        **smtp_options(catcher.smtp_port),
        "public_url": "http://zora.test",
        "rate_staff_sign_in_per_address_and_email": "1000/minute",
        "rate_staff_sign_in_per_address": "1000/minute",
    }


async def api(z: Zora, method: str, path: str, body: Any = None, bearer: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with z.http.request(method, f"{z.base_url}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def account(z: Zora, role: str = "owner", shop: str | None = None) -> str:
    email = f"staff-{uuid.uuid4().hex[:8]}@example.com"
    assert await add_account(z.settings, email, shop or z.shop, role, PASSWORD) == 0
    return email


async def code_for(catcher: MailCatcher, email: str, n: int = 1) -> str:
    mail = (await wait_for_mail(catcher, email, n))[n - 1]
    found = re.search(r"\b(\d{6})\b", mail.text)
    assert found, mail.text
    return found.group(1)


async def sign_in(z: Zora, catcher: MailCatcher, email: str, password: str = PASSWORD) -> dict[str, Any]:
    sent = len([m for m in catcher.caught if email in m.rcpt_tos])
    status, answer = await api(z, "POST", "/staff/api/sign-in", {"email": email, "password": password})
    assert status == 200, answer
    code = await code_for(catcher, email, sent + 1)
    status, tokens = await api(z, "POST", "/staff/api/verify", {"challenge": answer["challenge"], "code": code})
    assert status == 200, tokens
    return dict(tokens)


async def test_sign_in_with_password_and_code_opens_the_settings_of_the_own_shop(
    zora: Zora, catcher: MailCatcher
) -> None:
    email = await account(zora)
    tokens = await sign_in(zora, catcher, email)
    assert tokens["shop"] == zora.shop and tokens["role"] == "owner"
    status, settings = await api(zora, "GET", "/admin/api/settings", bearer=tokens["access_token"])
    assert status == 200 and settings["shop"] == zora.shop
    status, saved = await api(
        zora,
        "PUT",
        "/admin/api/settings",
        {"version": settings["version"], "settings": {**settings["settings"], "note_prefix": "!!"}},
        bearer=tokens["access_token"],
    )
    assert status == 200, saved
    by = await zora.fetch(
        "SELECT changed_by FROM shop_settings_history WHERE shop_id = $1 ORDER BY version DESC", zora.shop_id
    )
    assert by[0]["changed_by"] == f"staff:{email}"


async def test_passwords_are_bcrypt_cost_12_and_over_long_ones_are_refused(zora: Zora) -> None:
    email = await account(zora)
    [row] = await zora.fetch("SELECT password_hash FROM staff_accounts WHERE email = $1", email)
    assert row["password_hash"].startswith("$2b$12$")
    long = "é" * 37  # 74 bytes, 37 characters
    assert staff.password_problem(long) and "72 bytes" in str(staff.password_problem(long))
    with pytest.raises(staff.PasswordRefused, match="72 bytes"):
        await staff.hash_password(long)
    # Never truncated: a password that shares the first 72 bytes of a real one does not match.
    stored = await staff.hash_password("a" * 72)
    assert not await staff.check_password("a" * 73, stored)
    status, answer = await api(zora, "POST", "/staff/api/sign-in", {"email": email, "password": "x" * 73})
    assert status == 400 and "72 bytes" in answer["error"]["message"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    before = len(catcher.caught)
    wrong = await api(zora, "POST", "/staff/api/sign-in", {"email": email, "password": "not the password"})
    unknown = await api(zora, "POST", "/staff/api/sign-in", {"email": "nobody@example.com", "password": PASSWORD})
    assert (
        wrong
        == unknown
        == (401, {"error": {"code": "wrong_password", "message": "the email or the password is wrong"}})
    )
    assert len(catcher.caught) == before


def test_an_unknown_email_costs_a_bcrypt_check_too(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[bytes] = []
    real = staff.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(staff.bcrypt, "checkpw", counting)
    assert staff._check(PASSWORD, None) is False
    assert staff._check("x" * 80, staff._hash(PASSWORD, 4)) is False
    assert len(checked) == 2 and all(h.startswith(b"$2b$12$") for h in checked)


async def _challenge(z: Zora, email: str) -> str:
    status, answer = await api(z, "POST", "/staff/api/sign-in", {"email": email, "password": PASSWORD})
    assert status == 200
    return str(answer["challenge"])


async def test_a_code_works_once_and_only_for_its_challenge(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    challenge = await _challenge(zora, email)
    code = await code_for(catcher, email)
    [stored] = await zora.fetch("SELECT code_hash FROM staff_sign_in_codes WHERE challenge = $1", challenge)
    assert code not in stored["code_hash"]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, answer = await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": wrong})
    assert (status, answer["error"]["code"], answer["attempts_left"]) == (401, "wrong_code", staff.CODE_ATTEMPTS - 1)
    assert (await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": code}))[0] == 200
    status, answer = await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": code})
    assert (status, answer["error"]["code"]) == (401, "code_expired")
    other = await account(zora)
    other_challenge = await _challenge(zora, other)
    assert (await api(zora, "POST", "/staff/api/verify", {"challenge": other_challenge, "code": code}))[0] == 401


async def test_attempts_are_limited_and_expired_codes_refused(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    challenge = await _challenge(zora, email)
    code = await code_for(catcher, email)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(staff.CODE_ATTEMPTS):
        assert (await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": wrong}))[0] == 401
    status, answer = await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": code})
    assert (status, answer["error"]["code"]) == (401, "code_expired")
    challenge = await _challenge(zora, email)
    code = await code_for(catcher, email, 2)
    await zora.fetch(
        "UPDATE staff_sign_in_codes SET expires_at = now() - interval '1 second' WHERE challenge = $1", challenge
    )
    status, answer = await api(zora, "POST", "/staff/api/verify", {"challenge": challenge, "code": code})
    assert (status, answer["error"]["code"]) == (401, "code_expired")


def _forged(z: Zora, **claims: Any) -> str:
    now = int(time.time())
    base = {"aud": "zora-staff", "iat": now, "exp": now + 600, "sub": "1", "shop": z.shop, "sid": "x", "pwv": 1}
    secret = claims.pop("_secret", None) or staff.token_secret(z.settings)
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


async def test_bad_tokens_are_refused(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    tokens = await sign_in(zora, catcher, email)
    good = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    cases = {
        "expired": _forged(zora, **{**good, "exp": int(time.time()) - 60}),
        "forged": _forged(zora, **{**good, "_secret": secrets.token_bytes(32)}),
        "other account's session": _forged(zora, **{**good, "sub": str(int(good["sub"]) + 1)}),
        "unknown session": _forged(zora, **{**good, "sid": "nope"}),
        "old password version": _forged(zora, **{**good, "pwv": good["pwv"] - 1}),
        "other shop named": _forged(zora, **{**good, "shop": "other.myshopify.com"}),
    }
    for case, bearer in cases.items():
        status, _ = await api(zora, "GET", "/admin/api/settings", bearer=bearer)
        assert status == 401, case
    assert (await api(zora, "GET", "/admin/api/settings", bearer=tokens["access_token"]))[0] == 200


async def test_a_staff_member_of_one_shop_never_reaches_another(zora: Zora, catcher: MailCatcher) -> None:
    other_shop = f"other-{uuid.uuid4().hex[:8]}.myshopify.com"
    other_id = await ensure_shop(zora.services.pool, other_shop, "Other", None)
    await zora.fetch('UPDATE shops SET settings = \'{"note_prefix": "B"}\' WHERE id = $1', other_id)
    email = await account(zora, shop=other_shop)
    tokens = await sign_in(zora, catcher, email)
    status, answer = await api(zora, "GET", "/admin/api/settings", bearer=tokens["access_token"])
    assert status == 200 and answer["shop"] == other_shop and answer["settings"]["note_prefix"] == "B"
    mine = await account(zora)
    mine_tokens = await sign_in(zora, catcher, mine)
    status, answer = await api(zora, "GET", "/admin/api/settings", bearer=mine_tokens["access_token"])
    assert answer["shop"] == zora.shop and answer["settings"]["note_prefix"] != "B"


async def test_agents_read_but_may_not_write(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora, role="agent")
    tokens = await sign_in(zora, catcher, email)
    status, current = await api(zora, "GET", "/admin/api/settings", bearer=tokens["access_token"])
    assert status == 200
    body = {"version": current["version"], "settings": {"note_prefix": "agent!"}}
    status, answer = await api(zora, "PUT", "/admin/api/settings", body, bearer=tokens["access_token"])
    assert status == 403 and "agents may read" in answer["error"]["message"]
    status, _ = await api(
        zora,
        "POST",
        "/admin/api/settings/undo",
        {"version": current["version"], "undo": 1},
        bearer=tokens["access_token"],
    )
    assert status == 403
    status, _ = await api(
        zora, "POST", "/admin/api/staff/invitations", {"email": "x@example.com"}, bearer=tokens["access_token"]
    )
    assert status == 403
    [row] = await zora.fetch("SELECT settings_version FROM shops WHERE id = $1", zora.shop_id)
    assert row["settings_version"] == current["version"]


async def test_sessions_are_listed_revoked_and_refresh_rotates(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    first = await sign_in(zora, catcher, email)
    second = await sign_in(zora, catcher, email)
    status, me = await api(zora, "GET", "/staff/api/me", bearer=first["access_token"])
    assert status == 200 and len(me["sessions"]) == 2
    status, renewed = await api(zora, "POST", "/staff/api/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 200 and renewed["refresh_token"] != first["refresh_token"]
    # The replaced refresh token again: the session ends (a stolen token was used).
    assert (await api(zora, "POST", "/staff/api/refresh", {"refresh_token": first["refresh_token"]}))[0] == 401
    assert (await api(zora, "GET", "/staff/api/me", bearer=renewed["access_token"]))[0] == 401
    # Revoking the second from itself's list: its access token stops at once.
    second_id = jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    assert (await api(zora, "DELETE", f"/staff/api/sessions/{second_id}", bearer=second["access_token"]))[0] == 200
    assert (await api(zora, "GET", "/admin/api/settings", bearer=second["access_token"]))[0] == 401
    assert (await api(zora, "POST", "/staff/api/refresh", {"refresh_token": second["refresh_token"]}))[0] == 401


async def test_a_password_change_ends_every_session(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    first = await sign_in(zora, catcher, email)
    second = await sign_in(zora, catcher, email)
    body = {"current_password": "wrong wrong wrong", "new_password": "another good password"}
    assert (await api(zora, "POST", "/staff/api/password", body, bearer=first["access_token"]))[0] == 403
    body["current_password"] = PASSWORD
    status, answer = await api(zora, "POST", "/staff/api/password", body, bearer=first["access_token"])
    assert status == 200 and answer["sessions_ended"] == 2
    [row] = await zora.fetch("SELECT id FROM staff_accounts WHERE email = $1", email)
    assert await staff.Sessions(zora.services.redis, zora.settings).of_account(row["id"]) == []
    for tokens in (first, second):
        assert (await api(zora, "POST", "/staff/api/refresh", {"refresh_token": tokens["refresh_token"]}))[0] == 401
        assert (await api(zora, "GET", "/admin/api/settings", bearer=tokens["access_token"]))[0] == 401
    await sign_in(zora, catcher, email, "another good password")


async def test_an_invitation_link_sets_the_password_once(zora: Zora, catcher: MailCatcher) -> None:
    owner = await sign_in(zora, catcher, await account(zora))
    invitee = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    status, _ = await api(
        zora, "POST", "/admin/api/staff/invitations", {"email": invitee, "role": "agent"}, bearer=owner["access_token"]
    )
    assert status == 200
    [mail] = await wait_for_mail(catcher, invitee, 1)
    token = re.search(r"/staff/invite#(\S+)", mail.text)
    assert token, mail.text
    # Before accepting, nobody can sign in to the account.
    assert (await api(zora, "POST", "/staff/api/sign-in", {"email": invitee, "password": PASSWORD}))[0] == 401
    too_long = {"token": token.group(1), "password": "y" * 73}
    status, answer = await api(zora, "POST", "/staff/api/accept", too_long)
    assert status == 422 and "72 bytes" in answer["error"]["message"]
    assert (await api(zora, "POST", "/staff/api/accept", {"token": token.group(1), "password": PASSWORD}))[0] == 200
    again = {"token": token.group(1), "password": "a different password"}
    assert (await api(zora, "POST", "/staff/api/accept", again))[0] == 410
    tokens = await sign_in(zora, catcher, invitee)
    assert tokens["role"] == "agent"


async def test_the_cli_reads_the_password_from_stdin_and_refuses_duplicates(zora: Zora) -> None:
    assert read_password(True, io.StringIO(PASSWORD + "\n")) == PASSWORD
    email = await account(zora)
    assert await add_account(zora.settings, email, zora.shop, "agent", PASSWORD) == 2
    assert await add_account(zora.settings, "new@example.com", "not-installed.myshopify.com", "agent", PASSWORD) == 2
    async with zora.services.pool.acquire() as conn:
        found = await sstaff.by_email(conn, email.upper())
    assert found is not None and found.role == "owner"


async def test_the_server_does_the_bcrypt_work_for_an_unknown_address(
    zora: Zora, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real = staff.bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(staff.bcrypt, "checkpw", counting)
    for email in (f"nobody-{uuid.uuid4().hex[:6]}@example.com", "not an address"):
        status, _ = await api(zora, "POST", "/staff/api/sign-in", {"email": email, "password": PASSWORD})
        assert status == 401
    assert len(checked) == 2 and all(h.startswith(b"$2b$12$") for h in checked)


async def test_zora_staff_add_takes_the_password_from_stdin_never_from_argv(zora: Zora) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    env = {**os.environ, "DATABASE_URL": zora.settings.database_url or "", "LOG_FORMAT": "text"}
    command = [sys.executable, "-m", "zora.app.cli", "staff", "add", email, "--shop", zora.shop, "--role", "agent"]
    done = await asyncio.to_thread(
        subprocess.run, [*command, "--password-stdin"], input=PASSWORD + "\n", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    async with zora.services.pool.acquire() as conn:
        found = await sstaff.by_email(conn, email)
    assert found is not None and found.role == "agent" and found.password_hash
    assert await staff.check_password(PASSWORD, found.password_hash)
    too_long = await asyncio.to_thread(
        subprocess.run,
        [*command[:5], "long@example.com", *command[6:], "--password-stdin"],
        input="p" * 73 + "\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert too_long.returncode == 2 and "72 bytes" in too_long.stderr
    refused = await asyncio.to_thread(
        subprocess.run, [*command, "--password", PASSWORD], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr


async def test_nobody_ends_another_accounts_session(zora: Zora, catcher: MailCatcher) -> None:
    mine = await sign_in(zora, catcher, await account(zora))
    theirs = await sign_in(zora, catcher, await account(zora))
    their_session = jwt.decode(theirs["access_token"], options={"verify_signature": False})["sid"]
    status, _ = await api(zora, "DELETE", f"/staff/api/sessions/{their_session}", bearer=mine["access_token"])
    assert status == 404
    assert (await api(zora, "GET", "/staff/api/me", bearer=theirs["access_token"]))[0] == 200
