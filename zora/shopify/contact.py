"""Correcting a customer's name, email, phone and default address (issue 11 §4): what an agent may type,
checked before anything reaches Shopify, and the Admin GraphQL mutations that write it.

Shopify's shapes (Admin GraphQL, 2026-04): `customerUpdate(input: CustomerInput!)` takes firstName,
lastName, email and phone; the default address is changed with `customerAddressUpdate(customerId,
addressId, address: MailingAddressInput!, setAsDefault: true)`, or created with `customerAddressCreate(
customerId, address, setAsDefault: true)` when the customer has none. Each answers `userErrors`, which
the caller shows to the agent as Shopify wrote them.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from zora.addresses import InvalidAddress, parse_address

NAME_MAX = 255
ADDRESS_LINE_MAX = 255
CITY_MAX = 255
ZIP_MAX = 20
PROVINCE_MAX = 10
# E.164: a plus, a country code not starting with 0, at most 15 digits in all. Spaces, dots, dashes and
# brackets people type between groups are dropped first.
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PROVINCE = re.compile(r"[A-Za-z0-9-]{1,10}")

CONTACT_UPDATE = (
    "mutation ZoraCustomerContact($input: CustomerInput!) {"
    " customerUpdate(input: $input) { customer { id firstName lastName email phone updatedAt }"
    " userErrors { field message } } }"
)
DEFAULT_ADDRESS = "query ZoraDefaultAddress($id: ID!) { customer(id: $id) { id defaultAddress { id } } }"
ADDRESS_UPDATE = (
    "mutation ZoraAddressUpdate($customerId: ID!, $addressId: ID!, $address: MailingAddressInput!) {"
    " customerAddressUpdate(customerId: $customerId, addressId: $addressId, address: $address, setAsDefault: true)"
    " { address { id city countryCodeV2 } userErrors { field message } } }"
)
ADDRESS_CREATE = (
    "mutation ZoraAddressCreate($customerId: ID!, $address: MailingAddressInput!) {"
    " customerAddressCreate(customerId: $customerId, address: $address, setAsDefault: true)"
    " { address { id city countryCodeV2 } userErrors { field message } } }"
)


class Address(BaseModel):
    address1: str
    address2: str | None = None
    city: str
    province_code: str | None = None
    zip: str | None = None
    country_code: str

    def mailing_input(self) -> dict[str, str]:
        """Shopify's MailingAddressInput."""
        fields = {
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "provinceCode": self.province_code,
            "zip": self.zip,
            "countryCode": self.country_code,
        }
        return {k: v for k, v in fields.items() if v is not None}


class ContactChange(BaseModel):
    """What to change; None is "leave as it is"."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None

    def customer_input(self) -> dict[str, str]:
        fields = {"firstName": self.first_name, "lastName": self.last_name, "email": self.email, "phone": self.phone}
        return {k: v for k, v in fields.items() if v is not None}


def _text(raw: dict[str, str], key: str) -> str | None:
    value = (raw.get(key) or "").strip()
    return value or None


def _length(errors: dict[str, str], key: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        errors[key] = f"At most {limit} characters ({len(value)} now)."


def normal_phone(value: str) -> str:
    """`+44 20 7946 0958` as `+442079460958`; ValueError unless it is an international number."""
    phone = _PHONE_SEPARATORS.sub("", value)
    if not _E164.fullmatch(phone):
        raise ValueError("An international number with its country code, like +44 20 7946 0958.")
    return phone


def parse_change(raw: dict[str, str]) -> tuple[ContactChange | None, dict[str, str]]:
    """The change an agent typed (field name -> text; an empty field is left as it is), or the errors per
    field in words for the agent."""
    errors: dict[str, str] = {}
    first, last = _text(raw, "first_name"), _text(raw, "last_name")
    _length(errors, "first_name", first, NAME_MAX)
    _length(errors, "last_name", last, NAME_MAX)
    email = _text(raw, "email")
    if email is not None:
        try:
            email = parse_address(email)
        except InvalidAddress as exc:
            errors["email"] = f"Not an email address: {exc}."
    phone = _text(raw, "phone")
    if phone is not None:
        try:
            phone = normal_phone(phone)
        except ValueError as exc:
            errors["phone"] = str(exc)
    address = _address(raw, errors)
    if errors:
        return None, errors
    return ContactChange(first_name=first, last_name=last, email=email, phone=phone, address=address), {}


def _address(raw: dict[str, str], errors: dict[str, str]) -> Address | None:
    keys = ("address1", "address2", "city", "province_code", "zip", "country_code")
    given = {k: _text(raw, k) for k in keys}
    if not any(given.values()):
        return None
    for key in ("address1", "city", "country_code"):
        if given[key] is None:
            errors[key] = "Needed for an address."
    for key, limit in (("address1", ADDRESS_LINE_MAX), ("address2", ADDRESS_LINE_MAX), ("city", CITY_MAX)):
        _length(errors, key, given[key], limit)
    _length(errors, "zip", given["zip"], ZIP_MAX)
    country, province = given["country_code"], given["province_code"]
    if country is not None and not _COUNTRY.fullmatch(country):
        errors["country_code"] = "Two letters (ISO 3166), like US or FR."
    if province is not None and not _PROVINCE.fullmatch(province):
        errors["province_code"] = f"A region code of at most {PROVINCE_MAX} letters or digits, like CA or ON."
    if any(k in errors for k in keys):
        return None
    assert given["address1"] and given["city"] and country  # checked above
    return Address(
        address1=given["address1"],
        address2=given["address2"],
        city=given["city"],
        province_code=province.upper() if province else None,
        zip=given["zip"],
        country_code=country.upper(),
    )
