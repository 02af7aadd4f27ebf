"""Settings: the platform's data re-exported, and the ``M5C_*`` environment read once.

The platform's own data (nodes, profiles) lives in ``protocol``; this module re-exports it beside
``Settings``, the one place that reads ``M5C_*`` variables. ``Settings.from_env()`` parses them
into a frozen object, checking each value and naming the variable of a bad one
(``SettingsError``); the CLI and library code read that object, never ``os.environ``.

Example:
    >>> s = Settings.from_env({"M5C_USERNAME": "demo", "M5C_PASSWORD": "secret",
    ...                        "M5C_APIKEY": "k" * 32,
    ...                        "M5C_BASE_URL": "http://127.0.0.1:8001, http://127.0.0.1:8002"})
    >>> s.base_urls
    ('http://127.0.0.1:8001', 'http://127.0.0.1:8002')
    >>> "secret" in repr(s)
    False
    >>> try:
    ...     Settings.from_env({"M5C_BASE_URL": "127.0.0.1:8001"})
    ... except SettingsError as exc:
    ...     print(exc.variable)
    M5C_BASE_URL
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from ._exceptions import InvalidParameterError, SettingsError
from .protocol import NODES, PROFILES, BusinessType, Credentials, Node, Profile, md5_hex

__all__ = [
    "ENVIRONMENT",
    "NODES",
    "PROFILES",
    "BusinessType",
    "Credentials",
    "Node",
    "Profile",
    "Settings",
    "md5_hex",
    "profile_for",
]

#: Every variable ``Settings`` reads, with what it holds (docs/cli.md lists the same).
ENVIRONMENT: Final[Mapping[str, str]] = {
    "M5C_USERNAME": "the account's username",
    "M5C_PASSWORD": "the account's password (or M5C_PASSWORD_MD5, not both)",
    "M5C_PASSWORD_MD5": "the lowercase md5 of the password, 32 hexadecimal characters",
    "M5C_APIKEY": "the account's apikey",
    "M5C_BASE_URL": "node base URLs, comma-separated, in failover order (replaces the catalog)",
    "M5C_WEBHOOK_TOKEN": "the webhook receiver's secret path token (its rule: the receiver's)",
    "M5C_REDIS_URL": "the Redis of the shared pacer (``--redis`` wins), password kept off argv",
}


def profile_for(kind: BusinessType | str) -> Profile:
    """Return the §3.6 profile for a business type name (notification, personalized, marketing).

    >>> profile_for("notification").rate, profile_for("notification").packet_size
    (600, 10000)
    """
    return PROFILES[BusinessType(kind)]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the ``M5C_*`` environment says, checked. Unset (or empty) variables are ``None``/``()``.

    Secrets are left out of the repr. Build it with ``Settings.from_env()``; a value that breaks
    a rule raises ``SettingsError`` naming its variable.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_md5: str | None = field(default=None, repr=False)
    apikey: str | None = field(default=None, repr=False)
    base_urls: tuple[str, ...] = ()
    webhook_token: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the ``M5C_*`` variables of ``environ`` (``os.environ`` by default).

        Raises:
            SettingsError: a value breaks its rule, or both passwords are set.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        password, password_md5 = get("M5C_PASSWORD"), get("M5C_PASSWORD_MD5")
        if password is not None and password_md5 is not None:
            raise SettingsError("set one of M5C_PASSWORD and M5C_PASSWORD_MD5", variable="")
        settings = cls(
            username=get("M5C_USERNAME"),
            password=env.get("M5C_PASSWORD") or None,  # a password may carry spaces
            password_md5=password_md5,
            apikey=get("M5C_APIKEY"),
            base_urls=_urls(get("M5C_BASE_URL") or ""),
            webhook_token=get("M5C_WEBHOOK_TOKEN"),
            redis_url=get("M5C_REDIS_URL"),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        # Each credential by the rule of the one holder of secrets, with a stand-in for the rest.
        stand_in: dict[str, Any] = {"username": "user", "password_md5": "0" * 32, "apikey": "k"}
        for variable, name, value in (
            ("M5C_USERNAME", "username", self.username),
            ("M5C_PASSWORD_MD5", "password_md5", self.password_md5),
            ("M5C_APIKEY", "apikey", self.apikey),
        ):
            if value is None:
                continue
            try:
                Credentials(**(stand_in | {name: value}))
            except InvalidParameterError as exc:
                raise SettingsError(f"{variable}: {exc.message}", variable=variable) from None
        # M5C_WEBHOOK_TOKEN's rule is the receiver's own (webhook.check_token), checked there.
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            # the value is not quoted: it may hold a password
            raise SettingsError(
                "M5C_REDIS_URL: must start with redis://, rediss:// or unix://",
                variable="M5C_REDIS_URL",
            )

    def credentials(self) -> Credentials:
        """The account's credentials.

        Raises:
            SettingsError: M5C_USERNAME, M5C_APIKEY or a password is not set.
        """
        missing = [
            name
            for name, value in (
                ("M5C_USERNAME", self.username),
                ("M5C_PASSWORD", self.password or self.password_md5),
                ("M5C_APIKEY", self.apikey),
            )
            if value is None
        ]
        if missing:
            raise SettingsError(f"not set: {', '.join(missing)}", variable=missing[0])
        assert self.username is not None
        assert self.apikey is not None
        return Credentials.create(
            username=self.username,
            apikey=self.apikey,
            password=None if self.password_md5 else self.password,
            password_md5=self.password_md5,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``AsyncClient``: credentials, and nodes when M5C_BASE_URL is set.

        ``AsyncClient(**Settings.from_env().client_options(), profile="marketing")``.

        Raises:
            SettingsError: a credential is not set.
        """
        creds = self.credentials()
        options: dict[str, Any] = {
            "username": creds.username,
            "password_md5": creds.password_md5,
            "apikey": creds.apikey,
        }
        if self.base_urls:
            options["nodes"] = list(self.base_urls)
        return options


def _urls(text: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in text.split(",") if u.strip())
    for i, url in enumerate(urls, 1):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() or ord(c) < 32 for c in url)
        ):
            # The value is not echoed: a URL may carry a user and password.
            raise SettingsError(
                f"M5C_BASE_URL: entry {i} of {len(urls)} is not an http(s) URL"
                " (http[s]://host[:port][/path])",
                variable="M5C_BASE_URL",
            )
    return urls
