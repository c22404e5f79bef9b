"""The security checks that need no server, at their edges: shopper tokens, sealed secrets, whether a
token is current, client addresses behind proxies, and why an address is refused (`make mutation` runs
these against zora/security.py, zora/identity.py, zora/limits.py and zora/addresses.py)."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from typing import Any

import jwt
import pytest

from zora.addresses import InvalidAddress, parse_address, parse_sender, safe_display_name
from zora.identity import TokenState, is_current, sockets_key
from zora.limits import client_address, parse_networks
from zora.security import (
    InvalidToken,
    SealError,
    ShopperIdentity,
    issue_shopper_token,
    new_identity,
    seal,
    sealed_with,
    unseal,
    verify_shopper_token,
)

SECRET = "a-zora-secret-key-of-at-least-32-bytes"
SHOPPER = uuid.UUID("00000000-0000-4000-8000-000000000001")
CONVERSATION = uuid.UUID("00000000-0000-4000-8000-000000000002")


def identity(**changes: Any) -> ShopperIdentity:
    values: dict[str, Any] = {
        "shop": "a.myshopify.com",
        "shop_id": 7,
        "shopper_id": SHOPPER,
        "conversation_id": CONVERSATION,
        **changes,
    }
    return ShopperIdentity(**values)


# ---------------------------------------------------------------- shopper tokens


def test_a_token_carries_the_whole_identity() -> None:
    for who in (identity(), identity(customer=42, version=3)):
        assert verify_shopper_token(SECRET, issue_shopper_token(SECRET, who, 60)) == who


def test_a_token_lives_its_ttl_and_a_little_clock_skew() -> None:
    claims = jwt.decode(
        issue_shopper_token(SECRET, identity(), 600), SECRET, algorithms=["HS256"], audience="zora-widget"
    )
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 600
    assert "cus" not in claims and claims["ver"] == 0
    now = int(time.time())
    assert verify_shopper_token(SECRET, _token(exp=now - 5)).shopper_id == SHOPPER
    with pytest.raises(InvalidToken, match="expired"):
        verify_shopper_token(SECRET, _token(exp=now - 30))


def _token(**changes: Any) -> str:
    now = int(time.time())
    claims = {
        "aud": "zora-widget",
        "iat": now,
        "exp": now + 60,
        "shop": "a.myshopify.com",
        "sid": 7,
        "sub": str(SHOPPER),
        "cid": str(CONVERSATION),
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_token_without_a_version_is_version_zero() -> None:
    assert verify_shopper_token(SECRET, _token()).version == 0
    assert verify_shopper_token(SECRET, _token(cus=None)).customer is None


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"exp": None},
        {"iat": None},
        {"sub": None},
        {"cid": None},
        {"shop": None},
        {"sid": "seven"},
        {"sub": "not-a-uuid"},
        {"cus": True},
        {"cus": "42"},
        {"ver": "new"},
    ],
)
def test_tokens_that_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        verify_shopper_token(SECRET, _token(**changes))


def test_a_token_signed_otherwise_is_refused() -> None:
    with pytest.raises(InvalidToken):
        verify_shopper_token(SECRET, issue_shopper_token(SECRET + "-other", identity(), 60))
    none_alg = jwt.encode({"aud": "zora-widget"}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        verify_shopper_token(SECRET, none_alg)


def test_a_new_identity_is_new_each_time() -> None:
    first, second = new_identity("a.myshopify.com", 7), new_identity("a.myshopify.com", 7)
    assert (first.shop, first.shop_id, first.customer, first.version) == ("a.myshopify.com", 7, None, 0)
    assert first.shopper_id != second.shopper_id and first.conversation_id != second.conversation_id
    assert first.shopper_id != first.conversation_id


# ---------------------------------------------------------------- sealed secrets

# Sealed by this release with OLD_KEY: what a database holds must open in every later release (the key
# derivation is part of the stored format).
OLD_KEY = "an-old-zora-secret-key-of-32-bytes!"
SEALED_BEFORE = "zora1:gAAAAABrFLBEacbKBLSdCugL_F8pM58d0sEkC-443wVY6cjvTG3SNQmvShcS5aBXNExyTP0EZ_MiqjcUh3SeEyabR5S5ioirR2_etLxIQZo5uX0aMtunPeE="


def test_values_sealed_by_an_earlier_release_still_open() -> None:
    assert unseal([OLD_KEY], SEALED_BEFORE) == "shpat_0123456789abcdef"
    assert unseal([SECRET, OLD_KEY], SEALED_BEFORE) == "shpat_0123456789abcdef"
    assert sealed_with(OLD_KEY, SEALED_BEFORE) and not sealed_with(SECRET, SEALED_BEFORE)
    assert not sealed_with(OLD_KEY, "shpat_in_the_clear")
    message = (
        "a stored access token cannot be opened with ZORA_SECRET_KEY (was it changed? put the old key in"
        " ZORA_PREVIOUS_SECRET_KEYS, or reinstall the app on the shop)"
    )
    with pytest.raises(SealError, match=f"^{re.escape(message)}$"):
        unseal([SECRET], SEALED_BEFORE)
    assert unseal([SECRET], seal(SECRET, "x")) == "x"


# ---------------------------------------------------------------- current tokens


def test_a_token_is_current_only_with_the_same_version_and_customer() -> None:
    assert is_current(identity(version=2, customer=42), TokenState(2, 42))
    assert is_current(identity(), TokenState(0, None))
    assert not is_current(identity(version=1, customer=42), TokenState(2, 42))
    assert not is_current(identity(version=2), TokenState(2, 42))
    assert not is_current(identity(version=2, customer=42), TokenState(2, None))
    assert sockets_key(SHOPPER) == f"zora:sockets:{SHOPPER}" == sockets_key(str(SHOPPER))


# ---------------------------------------------------------------- client addresses


def test_trusted_proxies_are_ranges_given_loosely() -> None:
    assert parse_networks([" 10.1.2.3/8 ", "", "::1"]) == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]


def test_client_address_edges() -> None:
    trusted = parse_networks(["10.0.0.0/8"])
    assert client_address(None, None, trusted) == "unknown"
    # Empty hops are skipped, not the end of the walk.
    assert client_address("10.0.0.1", "203.0.113.9, , 10.0.0.2", trusted) == "203.0.113.9"
    # Every hop trusted: the farthest one is the best there is.
    assert client_address("10.0.0.1", "10.0.0.3, 10.0.0.2", trusted) == "10.0.0.3"


# ---------------------------------------------------------------- why an address is refused


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "^is not an email address$"),
        (
            "ana@example.com\r\nBcc: x@example.com",
            "^must be one email address, without line breaks or control characters$",
        ),
        ("   ", "^is empty$"),
        ("Ana <ana@example.com>", "^is not one valid email address: "),
        ("é" * 33 + "@example.com", "^is not one valid email address: the part before the @-sign is over 64 bytes$"),
    ],
)
def test_parse_address_says_why(value: Any, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        parse_address(value)


def test_a_local_part_of_exactly_64_bytes_is_fine() -> None:
    assert parse_address("a" * 64 + "@example.com") == "a" * 64 + "@example.com"
    assert parse_address("é" * 32 + "@example.com") == "é" * 32 + "@example.com"


ONE_ADDRESS = "^" + re.escape("must be exactly one address, like 'Shop <support@shop.example>'") + "$"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "^must be one address, without line breaks or control characters$"),
        ("Shop <a@shop.example>\r\nBcc: x@example.com", "^must be one address, without line breaks or control"),
        ("Shop <a@shop.example>, Other <b@shop.example>", ONE_ADDRESS),
        ("Shop <support>", ONE_ADDRESS),
        ("Shop <@>", ONE_ADDRESS),
        # Parsed without a defect, yet no mailbox: an empty quoted local part.
        ('Shop <""@shop.example>', ONE_ADDRESS),
    ],
)
def test_parse_sender_says_why(value: Any, reason: str) -> None:
    with pytest.raises(InvalidAddress, match=reason):
        parse_sender(value)


def test_parse_sender_keeps_name_and_address() -> None:
    sender = parse_sender("  Shop Support <support@shop.example> ")
    assert (sender.display_name, sender.username, sender.domain) == ("Shop Support", "support", "shop.example")
    with pytest.raises(InvalidAddress, match=r"^is not an address, like 'Shop <support@shop.example>'$"):
        parse_sender("Shop <")


def test_a_display_name_cannot_start_a_header() -> None:
    assert safe_display_name("Ana\r\nBcc: x@example.com") == "Ana Bcc: x@example.com"
    assert safe_display_name("  Ana \t  Lima ") == "Ana Lima"
    assert safe_display_name(None) == "" and safe_display_name("") == ""
    assert safe_display_name("x" * 150) == "x" * 100
