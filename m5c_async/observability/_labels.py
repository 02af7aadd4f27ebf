"""Label and attribute values that may come from configuration: a node named by its base URL."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

__all__ = ["node_label"]


@lru_cache(maxsize=256)
def node_label(node: str | None) -> str:
    """A node's name as a label: ``none`` when no node answered; a base URL without its
    userinfo, query or fragment (a password written into a URL never reaches a scrape).

    Example:
        >>> node_label("https://user:secret@sms.example.com:8443/api?k=1"), node_label(None)
        ('https://sms.example.com:8443/api', 'none')
    """
    if not node:
        return "none"
    if "@" not in node and "?" not in node and "#" not in node:
        return node
    parts = urlsplit(node)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
