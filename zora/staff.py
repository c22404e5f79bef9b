"""Zora's own sign-in for staff (issue 11 §5): passwords, emailed sign-in codes, access tokens and
refresh sessions. The HTTP side is zora/staff_web.py; the SQL is zora/store/staff.py.

- Passwords: bcrypt (cost BCRYPT_COST). bcrypt reads only the first 72 bytes, so a longer password is
  refused with a message, never cut short behind the user's back.
- An unknown address costs the same bcrypt work as a wrong password (a check against a dummy hash)
  and gets the same answer, so sign-in does not tell which addresses have accounts.
- Sign-in codes: 6 digits, CODE_TTL_SECONDS, CODE_ATTEMPTS tries, one use; kept as an HMAC keyed by
  the token secret, so a copy of the database does not give the codes away.
- Access tokens: HS256 JWTs (STAFF_JWT_SECRET), minutes long; each names its session, and a request
  is accepted only while that session is in Redis and the account's password version is the token's:
  revoking a session or changing the password ends its access tokens at once.
- Refresh tokens: `<session id>.<random>`; Redis keeps only a hash of the current one, each refresh
  replaces it, and presenting a replaced one ends the session (a stolen, already used token).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from typing import TYPE_CHECKING, Any

import bcrypt
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zora.addresses import parse_address
from zora.errors import ZoraError
from zora.mail import plain_email
from zora.settings import Settings

if TYPE_CHECKING:
    from zora.services import Services

BCRYPT_COST = 12
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 10
CODE_TTL_SECONDS = 600
CODE_ATTEMPTS = 5
INVITATION_TTL_SECONDS = 7 * 24 * 3600
ROLES = ("owner", "agent")
AUDIENCE = "zora-staff"
_ALG = "HS256"


class PasswordRefused(ZoraError):
    """A password that cannot be set (too short, too long); the message says why."""


class StaffAuthError(ZoraError):
    """A staff token or session that does not (or no longer) open anything."""


def password_problem(password: str) -> str | None:
    """Why this password cannot be set, or None."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return (
            f"passwords are at most {MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything after that);"
            " this one is longer: choose a shorter one"
        )
    if len(password) < MIN_PASSWORD_CHARS:
        return f"passwords are at least {MIN_PASSWORD_CHARS} characters"
    if "\x00" in password:
        return "passwords must not contain NUL characters"
    return None


def _hash(password: str, cost: int = BCRYPT_COST) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


async def hash_password(password: str) -> str:
    """A bcrypt hash (in a thread: cost 12 takes a good part of a second of CPU)."""
    if problem := password_problem(password):
        raise PasswordRefused(problem)
    return await asyncio.to_thread(_hash, password)


@cache
def _dummy_hash() -> bytes:
    return _hash(secrets.token_urlsafe(16)).encode()


def _check(password: str, stored: str | None) -> bool:
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES or "\x00" in password:
        # Never set (hash_password refuses them), so never right; the dummy check keeps the work equal.
        encoded, stored = b"x", None
    if stored is None:
        bcrypt.checkpw(encoded, _dummy_hash())
        return False
    return bcrypt.checkpw(encoded, stored.encode())


async def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; with no stored hash (no such account, invitation not yet
    accepted) the same bcrypt work is done and the answer is False."""
    return await asyncio.to_thread(_check, password, stored)


def normal_email(email: str) -> str:
    """The address as accounts store it (lower case, checked like every address Zora mails)."""
    return parse_address(email.strip()).lower()


@cache
def _derived(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


def token_secret(settings: Settings) -> bytes:
    """STAFF_JWT_SECRET, or (unset) a key derived from ZORA_SECRET_KEY for this purpose only."""
    if settings.staff_jwt_secret is not None:
        return settings.staff_jwt_secret.get_secret_value().encode()
    return _derived(settings.secret(), b"zora staff tokens v1")


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(settings: Settings, challenge: str, code: str) -> str:
    digest = hmac.new(token_secret(settings), f"code:{challenge}:{code}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def code_matches(settings: Settings, challenge: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_hash(settings, challenge, code.strip()), stored)


def opaque_hash(value: str) -> str:
    """Hash of a long random secret (refresh token, invitation link): no key or stretching needed."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class StaffClaims:
    account_id: int
    shop: str
    session_id: str
    password_version: int


def issue_access_token(settings: Settings, claims: StaffClaims) -> str:
    now = int(time.time())
    payload = {
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + settings.staff_access_token_minutes * 60,
        "sub": str(claims.account_id),
        "shop": claims.shop,
        "sid": claims.session_id,
        "pwv": claims.password_version,
    }
    return jwt.encode(payload, token_secret(settings), algorithm=_ALG)


def verify_access_token(settings: Settings, token: str) -> StaffClaims:
    try:
        payload = jwt.decode(
            token,
            token_secret(settings),
            algorithms=[_ALG],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud", "sid", "shop", "pwv"]},
            leeway=10,
        )
        return StaffClaims(
            account_id=int(payload["sub"]),
            shop=str(payload["shop"]),
            session_id=str(payload["sid"]),
            password_version=int(payload["pwv"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise StaffAuthError(f"not a valid staff token: {exc}") from None


def is_staff_token(token: str) -> bool:
    """Whether a bearer token claims to be one of ours (checked properly by verify_access_token);
    anything else goes to the App Bridge check."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and claims.get("aud") == AUDIENCE


@dataclass(frozen=True)
class Session:
    id: str
    account_id: int
    password_version: int
    created_at: float
    last_used_at: float
    address: str
    agent: str


def _session_key(session_id: str) -> str:
    return f"zora:staff:session:{session_id}"


def _account_key(account_id: int) -> str:
    return f"zora:staff:sessions:{account_id}"


# KEYS[1] session; ARGV: hash of the presented token, hash of its replacement, now, ttl. 1: rotated;
# 0: no such session; -1: a replaced token (the session is deleted; the account's set forgets it lazily).
_ROTATE = """
local stored = redis.call('HGET', KEYS[1], 'refresh')
if not stored then return 0 end
if stored ~= ARGV[1] then redis.call('DEL', KEYS[1]) return -1 end
redis.call('HSET', KEYS[1], 'refresh', ARGV[2], 'used', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class Sessions:
    """Refresh sessions in Redis: one hash per session, and a set of each account's sessions."""

    def __init__(self, redis: Any, settings: Settings) -> None:
        self.redis = redis
        self.ttl = settings.staff_refresh_token_days * 86400

    async def start(self, account_id: int, password_version: int, address: str, agent: str) -> tuple[str, str]:
        """A new session: (session id, refresh token)."""
        session_id = secrets.token_urlsafe(16)
        refresh = f"{session_id}.{secrets.token_urlsafe(32)}"
        now = time.time()
        fields = {
            "account": account_id,
            "pwv": password_version,
            "refresh": opaque_hash(refresh),
            "created": now,
            "used": now,
            "address": address[:100],
            "agent": agent[:200],
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_session_key(session_id), mapping=fields)
            pipe.expire(_session_key(session_id), self.ttl)
            pipe.sadd(_account_key(account_id), session_id)
            pipe.expire(_account_key(account_id), self.ttl)
            await pipe.execute()
        return session_id, refresh

    async def get(self, session_id: str) -> Session | None:
        raw = await self.redis.hgetall(_session_key(session_id))
        if not raw:
            return None
        f = {
            k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in raw.items()
        }
        return Session(
            id=session_id,
            account_id=int(f["account"]),
            password_version=int(f["pwv"]),
            created_at=float(f["created"]),
            last_used_at=float(f["used"]),
            address=f.get("address", ""),
            agent=f.get("agent", ""),
        )

    async def rotate(self, refresh: str) -> tuple[Session, str]:
        """The session a refresh token belongs to and the token that replaces it; StaffAuthError when
        it opens nothing. A replaced token presented again ends the session."""
        session_id = refresh.partition(".")[0]
        new = f"{session_id}.{secrets.token_urlsafe(32)}"
        # One step in Redis: of two refreshes with the same token, one wins and the other ends the session.
        outcome = await self.redis.eval(
            _ROTATE, 1, _session_key(session_id), opaque_hash(refresh), opaque_hash(new), time.time(), self.ttl
        )
        if int(outcome) == 0:
            raise StaffAuthError("this session has ended; sign in again")
        if int(outcome) < 0:
            raise StaffAuthError("this refresh token was already used; the session is ended, sign in again")
        session = await self.get(session_id)
        if session is None:
            raise StaffAuthError("this session has ended; sign in again")
        return session, new

    async def of_account(self, account_id: int) -> list[Session]:
        ids = await self.redis.smembers(_account_key(account_id))
        found = []
        for raw in ids:
            session_id = raw.decode() if isinstance(raw, bytes) else raw
            session = await self.get(session_id)
            if session is None:
                await self.redis.srem(_account_key(account_id), session_id)
            elif session.account_id == account_id:
                found.append(session)
        return sorted(found, key=lambda s: s.created_at)

    async def revoke(self, account_id: int, session_id: str) -> bool:
        """Ends one of the account's sessions; False when it has no such session."""
        session = await self.get(session_id)
        if session is None or session.account_id != account_id:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(_session_key(session_id))
            pipe.srem(_account_key(account_id), session_id)
            await pipe.execute()
        return True

    async def revoke_all(self, account_id: int) -> int:
        sessions = await self.of_account(account_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for session in sessions:
                pipe.delete(_session_key(session.id))
            pipe.delete(_account_key(account_id))
            await pipe.execute()
        return len(sessions)


def code_email(*, to_address: str, shop: str, code: str) -> EmailMessage:
    lines = [
        "Hi,",
        "",
        f"Your code to sign in to Zora for {shop} is:",
        "",
        f"    {code}",
        "",
        f"It works once, for {CODE_TTL_SECONDS // 60} minutes. If you did not try to sign in, someone knows",
        "your password: change it.",
        "",
    ]
    return plain_email(subject=f"Your Zora sign-in code: {code}", to_address=to_address, lines=lines)


def invitation_email(*, to_address: str, shop: str, role: str, link: str) -> EmailMessage:
    lines = [
        "Hi,",
        "",
        f"You are invited to Zora, the chat of {shop}, as {'an owner' if role == 'owner' else 'an agent'}.",
        "Choose your password here (the link works once, for 7 days):",
        link,
        "",
        "If you did not expect this, ignore this email.",
        "",
    ]
    return plain_email(subject=f"You are invited to Zora for {shop}", to_address=to_address, lines=lines)


@dataclass(frozen=True)
class StaffCaller:
    account_id: int
    shop_id: int
    shop: str
    email: str
    role: str
    session_id: str


async def authenticate_staff(services: Services, token: str) -> StaffCaller:
    """Who a staff access token acts for: its signature and expiry, its session still in Redis, its
    account still there with the same password version, for the shop it names."""
    from zora.store import staff as sstaff

    claims = verify_access_token(services.settings, token)
    session = await Sessions(services.redis, services.settings).get(claims.session_id)
    if session is None or session.account_id != claims.account_id:
        raise StaffAuthError("this session has ended; sign in again")
    async with services.pool.acquire() as conn:
        account = await sstaff.by_id(conn, claims.account_id)
    if account is None or account.shop != claims.shop:
        raise StaffAuthError("this account no longer exists")
    if account.password_version != claims.password_version or session.password_version != claims.password_version:
        raise StaffAuthError("the password was changed; sign in again")
    return StaffCaller(
        account_id=account.id,
        shop_id=account.shop_id,
        shop=account.shop,
        email=account.email,
        role=account.role,
        session_id=session.id,
    )
