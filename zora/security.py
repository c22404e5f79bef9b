"""Shopper tokens: the only source of a shopper's shop, identity and conversation."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

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
    }
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
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None


def new_identity(shop: str, shop_id: int) -> ShopperIdentity:
    return ShopperIdentity(shop=shop, shop_id=shop_id, shopper_id=uuid.uuid4(), conversation_id=uuid.uuid4())
