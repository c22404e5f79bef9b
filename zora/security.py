"""Shopper tokens (the only source of a shopper's shop, identity and conversation), sealed secrets, and
rate limits."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.fernet import Fernet, MultiFernet
from cryptography.fernet import InvalidToken as FernetInvalid
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zora.errors import ZoraError

_ALG = "HS256"
_AUDIENCE = "zora-widget"


class InvalidToken(ZoraError):
    pass


@dataclass(frozen=True)
class ShopperIdentity:
    shop: str
    shop_id: int
    shopper_id: uuid.UUID
    conversation_id: uuid.UUID
    # The Shopify customer the app proxy vouched for when the token was issued (claim `cus`): such a
    # token opens the conversation only while the shopper is still bound to that very customer.
    customer: int | None = None
    # The shopper's token version when issued (claim `ver`): bumping it in PostgreSQL revokes every
    # token issued before (sign-out, customers/redact).
    version: int = 0


def issue_shopper_token(secret: str, identity: ShopperIdentity, ttl_seconds: int) -> str:
    now = int(time.time())
    claims = {
        "aud": _AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
        "shop": identity.shop,
        "sid": identity.shop_id,
        "sub": str(identity.shopper_id),
        "cid": str(identity.conversation_id),
        "ver": identity.version,
    }
    if identity.customer is not None:
        claims["cus"] = identity.customer
    return jwt.encode(claims, secret, algorithm=_ALG)


def verify_shopper_token(secret: str, token: str) -> ShopperIdentity:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALG],
            audience=_AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
            leeway=10,
        )
        return ShopperIdentity(
            shop=str(claims["shop"]),
            shop_id=int(claims["sid"]),
            shopper_id=uuid.UUID(str(claims["sub"])),
            conversation_id=uuid.UUID(str(claims["cid"])),
            customer=_optional_int(claims.get("cus")),
            version=int(claims.get("ver", 0)),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None


def _optional_int(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("cus: must be an integer")
    return value


def new_identity(shop: str, shop_id: int) -> ShopperIdentity:
    return ShopperIdentity(shop=shop, shop_id=shop_id, shopper_id=uuid.uuid4(), conversation_id=uuid.uuid4())


# Secrets Zora keeps for others (Shopify offline access tokens) are stored sealed: Fernet (AES-128-CBC
# + HMAC-SHA256) with a key derived from ZORA_SECRET_KEY, so a copy of the database alone does not
# give API access to the shops.
SEALED_PREFIX = "zora1:"


class SealError(ZoraError):
    """A sealed value that none of the configured keys opens."""


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zora sealed secrets v1").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, value: str) -> str:
    return SEALED_PREFIX + _fernet(secret).encrypt(value.encode()).decode()


def unseal(secrets: Sequence[str], stored: str) -> str:
    """The value sealed with any of `secrets` (current key first, then previous ones). A value stored
    before sealing existed is returned as it is (`is_sealed` tells them apart)."""
    if not is_sealed(stored):
        return stored
    try:
        return MultiFernet([_fernet(s) for s in secrets]).decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()
    except FernetInvalid:
        raise SealError(
            "a stored access token cannot be opened with ZORA_SECRET_KEY (was it changed? put the old key in"
            " ZORA_PREVIOUS_SECRET_KEYS, or reinstall the app on the shop)"
        ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def sealed_with(secret: str, stored: str) -> bool:
    """Whether `stored` is sealed with this very key (not an older one, not in the clear)."""
    if not is_sealed(stored):
        return False
    try:
        _fernet(secret).decrypt(stored.removeprefix(SEALED_PREFIX).encode())
    except FernetInvalid:
        return False
    return True


def kept_secret(path: Path) -> str:
    """A random secret stored in `path` (owner-only) the first time and read back after, so what it signs or
    seals (shoppers' tokens, the stand-ins' signatures) stays valid between `zora dev` runs."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value
