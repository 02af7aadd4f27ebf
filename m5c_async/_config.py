"""Configuration value objects: frozen, keyword-only, validated on creation.

The platform's own data (nodes, profiles) lives in ``protocol/_catalog.py``; this module
re-exports it beside the settings that belong to the client and the engine.
"""

from __future__ import annotations

from .protocol import NODES, PROFILES, BusinessType, Credentials, Node, Profile, md5_hex

__all__ = [
    "NODES",
    "PROFILES",
    "BusinessType",
    "Credentials",
    "Node",
    "Profile",
    "md5_hex",
    "profile_for",
]


def profile_for(kind: BusinessType | str) -> Profile:
    """Return the §3.6 profile for a business type name (notification, personalized, marketing)."""
    return PROFILES[BusinessType(kind)]
