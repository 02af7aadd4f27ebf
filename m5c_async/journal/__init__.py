"""Durable campaigns: a SQLite journal, crash-resume without duplicates, reports and replies."""

from __future__ import annotations

from ._journal import CampaignStatus, Journal, JournalHooks
from ._run import resume_campaign, run_campaign

__all__ = ["CampaignStatus", "Journal", "JournalHooks", "resume_campaign", "run_campaign"]
