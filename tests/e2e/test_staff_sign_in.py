"""Zora's own staff sign-in in a real browser: email and password, the code from the mail catcher,
then the settings page of the account's shop outside Shopify admin (zora/static/staff.html)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.harness import Zora
from tests.helpers import smtp_options, wait_for_mail
from zora.app.staff_cli import add_account
from zora.mail_catcher import MailCatcher

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {**smtp_options(catcher.smtp_port), "public_url": "http://invitations.test"}


async def test_sign_in_with_the_emailed_code_opens_the_settings(zora: Zora, catcher: MailCatcher, context: Any) -> None:
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    assert await add_account(zora.settings, email, zora.shop, "agent", PASSWORD) == 0
    page = await context.new_page()
    await page.goto(f"{zora.base_url}/staff")
    await page.get_by_label("Email").fill(email)
    # A wrong password first: the same page says so, no code is sent.
    await page.locator("#password-form").get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("the email or the password is wrong")
    await page.locator("#password-form").get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    [mail] = await wait_for_mail(catcher, email, 1)
    code = re.search(r"\b(\d{6})\b", mail.text)
    assert code, mail.text
    await page.get_by_label("Code").fill(code.group(1))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{zora.base_url}/staff/settings")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#staff-who")).to_contain_text(f"{email} (agent, {zora.shop})")
    await expect(page.get_by_role("status")).to_contain_text(zora.shop)
    # An agent reads but cannot save: the page says why, and nothing is stored.
    await page.get_by_role("textbox", name="Greeting").first.fill("An agent's greeting")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#general-error")).to_contain_text("agents may read the settings but not change them")
    rows = await zora.fetch("SELECT count(*) AS n FROM shop_settings_history WHERE shop_id = $1", zora.shop_id)
    assert rows[0]["n"] == 0
    # The account's sessions, and a password change that needs the current password.
    await page.get_by_text("Your sessions and password").click()
    await expect(page.locator("#staff-sessions")).to_contain_text("(this one)")
    await page.get_by_label("Current password").fill("not the password")
    await page.get_by_label("New password").fill("a brand new password")
    await page.get_by_role("button", name="Change password (signs out everywhere)").click()
    await expect(page.locator("#staff-account-status")).to_contain_text("the current password is wrong")
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Change password (signs out everywhere)").click()
    await page.wait_for_url(f"{zora.base_url}/staff")


async def test_an_owner_invites_from_the_settings_page_and_the_invitee_signs_in(
    zora: Zora, catcher: MailCatcher, context: Any
) -> None:
    owner = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    invitee = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
    assert await add_account(zora.settings, owner, zora.shop, "owner", PASSWORD) == 0
    page = await context.new_page()
    await sign_in(page, zora, catcher, owner)
    await page.locator("#invite-email").fill(invitee)
    await page.locator("#invite-role").select_option("agent")
    await page.get_by_role("button", name="Invite").click()
    await expect(page.locator("#invite-status")).to_contain_text(f"Invitation sent to {invitee}")
    [mail] = await wait_for_mail(catcher, invitee, 1)
    link = re.search(r"(http\S+/staff/invite#\S+)", mail.text)
    assert link, mail.text
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{zora.base_url}/staff")
    await page.goto(link.group(1).replace("http://invitations.test", zora.base_url))
    await page.locator("#invite-form").get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Save password").click()
    await expect(page.get_by_role("alert")).to_contain_text("Password saved")
    await sign_in(page, zora, catcher, invitee)
    await expect(page.locator("#staff-who")).to_contain_text(f"{invitee} (agent, {zora.shop})")


async def sign_in(page: Any, zora: Zora, catcher: MailCatcher, email: str) -> None:
    if not page.url.startswith(f"{zora.base_url}/staff"):
        await page.goto(f"{zora.base_url}/staff")
    sent = len([m for m in catcher.caught if email in m.rcpt_tos])
    await page.get_by_label("Email").fill(email)
    await page.locator("#password-form").get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    mail = (await wait_for_mail(catcher, email, sent + 1))[sent]
    code = re.search(r"\b(\d{6})\b", mail.text)
    assert code, mail.text
    await page.get_by_label("Code").fill(code.group(1))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{zora.base_url}/staff/settings")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
