"""Credentials: the only holder of secrets in the library.

Its repr masks them, and it is the single place that turns a password into the lowercase md5 the
platform wants (§3.1.1).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from .._exceptions import InvalidParameterError

__all__ = ["Credentials", "md5_hex"]

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_USERNAME = re.compile(r"[^\s]{3,20}")


def md5_hex(password: str) -> str:
    """Return the 32-character lowercase md5 of ``password`` (UTF-8 bytes)."""
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """An account's username, password md5 and apikey.

    Build it with ``Credentials.create`` from a plain password or a ready md5.

    Example:
        >>> c = Credentials.create(username="demo", password="secret", apikey="k" * 32)
        >>> "secret" in repr(c) or c.password_md5 in repr(c)
        False
    """

    username: str
    password_md5: str = field(repr=False)
    apikey: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _USERNAME.fullmatch(self.username):
            raise InvalidParameterError("username must be 3 to 20 characters without spaces")
        if not _MD5.fullmatch(self.password_md5):
            raise InvalidParameterError("password_md5 must be 32 hexadecimal characters")
        if self.password_md5 != self.password_md5.lower():
            object.__setattr__(self, "password_md5", self.password_md5.lower())
        if not self.apikey or any(ch.isspace() for ch in self.apikey):
            raise InvalidParameterError("apikey must be a non-empty string without spaces")

    @classmethod
    def create(
        cls,
        *,
        username: str,
        apikey: str,
        password: str | None = None,
        password_md5: str | None = None,
    ) -> Credentials:
        """Build credentials from exactly one of ``password`` and ``password_md5``.

        Raises:
            InvalidParameterError: when both or neither are given, or a value breaks the rules.
        """
        if (password is None) == (password_md5 is None):
            raise InvalidParameterError("give exactly one of password and password_md5")
        if password is not None:
            if not password:
                raise InvalidParameterError("password must not be empty")
            password_md5 = md5_hex(password)
        assert password_md5 is not None
        return cls(username=username, password_md5=password_md5, apikey=apikey)

    def secrets(self) -> tuple[str, str]:
        """The strings that must never appear in logs or messages (md5 and apikey)."""
        return (self.password_md5, self.apikey)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password_md5='***', apikey='***')"
