"""Slack's answers turned into Temporal's terms, the same way for every activity that calls Slack."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.errors import SlackApiError
from temporalio.exceptions import ApplicationError

from zora.slack_api import classify


def rate_limited(retry_after: float) -> ApplicationError:
    """Temporal retries after exactly Slack's Retry-After (the SDK's own retries are off)."""
    return ApplicationError(
        "Slack rate limit", type="SlackRateLimited", next_retry_delay=timedelta(seconds=retry_after)
    )


def raise_if_rate_limited(exc: SlackApiError) -> None:
    failure = classify(exc)
    if failure.rate_limited:
        raise rate_limited(failure.wait(1)) from None
