"""Durable campaigns: a SQLite journal, crash-resume without duplicates, reports and replies."""

from __future__ import annotations

from ._inbound import QUARANTINE_LIMIT, RETRY_WINDOW, InboundCounts, QuarantineEntry, ReparseCounts
from ._journal import (
    CampaignStatus,
    CampaignSummary,
    Journal,
    JournalHooks,
    StoredCampaign,
    read_campaign,
    read_replies,
    read_status,
)
from ._pull import pull_replies, pull_reports
from ._run import resume_campaign, run_campaign, source_fingerprint

__all__ = [
    "QUARANTINE_LIMIT",
    "RETRY_WINDOW",
    "CampaignStatus",
    "CampaignSummary",
    "InboundCounts",
    "Journal",
    "JournalHooks",
    "QuarantineEntry",
    "ReparseCounts",
    "StoredCampaign",
    "pull_replies",
    "pull_reports",
    "read_campaign",
    "read_replies",
    "read_status",
    "resume_campaign",
    "run_campaign",
    "source_fingerprint",
]
