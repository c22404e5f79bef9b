"""What an agent may type into the contact part of the "Edit customer" modal (zora/shopify/contact.py)."""

from __future__ import annotations

import pytest

from zora.shopify.contact import normal_phone, parse_change


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+46.70.123.45.67", "+46701234567"),
    ],
)
def test_international_phones_are_kept_in_e164(typed: str, phone: str) -> None:
    assert normal_phone(typed) == phone


@pytest.mark.parametrize("typed", ["020 7946 0958", "+0 123 4567", "+44 20 7946 0958 1234 5", "+44 20x7946", "+12345"])
def test_other_phones_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="international number"):
        normal_phone(typed)


def test_empty_fields_change_nothing() -> None:
    change, errors = parse_change({"first_name": "  ", "email": "", "address1": ""})
    assert errors == {} and change is not None
    assert change.customer_input() == {} and change.address is None


def test_each_bad_field_says_what_is_wrong() -> None:
    change, errors = parse_change(
        {
            "first_name": "x" * 256,
            "email": "two@example.com, more@example.com",
            "phone": "12",
            "zip": "1" * 21,
            "province_code": "Île",
            "country_code": "FRA",
        }
    )
    assert change is None
    assert set(errors) == {"first_name", "email", "phone", "zip", "province_code", "country_code", "address1", "city"}


def test_a_full_address_is_normalised() -> None:
    change, errors = parse_change(
        {"address1": " 1 Rue de Rivoli ", "city": "Paris", "zip": "75001", "country_code": "fr", "province_code": "idf"}
    )
    assert errors == {} and change is not None and change.address is not None
    assert change.address.mailing_input() == {
        "address1": "1 Rue de Rivoli", "city": "Paris", "provinceCode": "IDF", "zip": "75001", "countryCode": "FR"
    }  # fmt: skip
