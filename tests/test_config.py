"""Settings from the ``M5C_*`` environment: read once, checked, named errors, secrets hidden."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import m5c_async
from m5c_async import Credentials, InvalidParameterError, Settings, SettingsError
from m5c_async._config import ENVIRONMENT
from m5c_async.cli import main

GOOD = {
    "M5C_USERNAME": "demo_user",
    "M5C_PASSWORD": "s3cret pass",
    "M5C_APIKEY": "a" * 32,
    "M5C_BASE_URL": "http://127.0.0.1:8001,https://[::1]:8443/base",
    "M5C_WEBHOOK_TOKEN": "tok-" + "x" * 20,
}


def test_good_values_are_parsed_into_one_frozen_object() -> None:
    """Every variable lands in its typed field; the object cannot be changed."""
    s = Settings.from_env(GOOD)
    assert s.username == "demo_user"
    assert s.password == "s3cret pass"
    assert s.password_md5 is None
    assert s.base_urls == ("http://127.0.0.1:8001", "https://[::1]:8443/base")
    assert s.webhook_token == "tok-" + "x" * 20
    with pytest.raises(AttributeError):
        s.username = "other"  # type: ignore[misc]


def test_unset_and_empty_variables_are_none() -> None:
    """An empty variable is as if unset; unrelated variables are ignored."""
    s = Settings.from_env({"M5C_USERNAME": "", "M5C_BASE_URL": " , ", "M5C_KILLS": "20"})
    assert s == Settings()
    assert s.base_urls == ()


def test_secrets_never_in_repr_or_errors() -> None:
    """repr and str leave out password, md5, apikey and token."""
    s = Settings.from_env(GOOD)
    text = repr(s) + str(s)
    for secret in ("s3cret", "a" * 32, "tok-"):
        assert secret not in text
    md5 = Settings.from_env({**GOOD, "M5C_PASSWORD": "", "M5C_PASSWORD_MD5": "F" * 32})
    assert "F" * 32 not in repr(md5)
    assert "f" * 32 not in repr(md5)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("M5C_USERNAME", "ab"),
        ("M5C_USERNAME", "has space"),
        ("M5C_PASSWORD_MD5", "abc"),
        ("M5C_PASSWORD_MD5", "g" * 32),
        ("M5C_APIKEY", "two words"),
        ("M5C_BASE_URL", "127.0.0.1:8001"),
        ("M5C_BASE_URL", "ftp://127.0.0.1"),
        ("M5C_BASE_URL", "http://127.0.0.1:8001,http://"),
        ("M5C_BASE_URL", "http://127.0.0.1:99999"),
        ("M5C_BASE_URL", "http://user:hunter2@[::1"),
    ],
)
def test_a_bad_value_is_a_named_error(variable: str, value: str) -> None:
    """SettingsError (an InvalidParameterError, a ValueError) names the variable, never echoes
    a value that may be secret."""
    env = {k: v for k, v in GOOD.items() if k != "M5C_PASSWORD"} | {variable: value}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert caught.value.message.startswith(variable)
    assert isinstance(caught.value, InvalidParameterError)
    assert isinstance(caught.value, ValueError)
    assert "hunter2" not in str(caught.value)


def test_both_passwords_is_an_error() -> None:
    """M5C_PASSWORD and M5C_PASSWORD_MD5 together are refused rather than one silently winning."""
    with pytest.raises(SettingsError, match="one of M5C_PASSWORD and M5C_PASSWORD_MD5"):
        Settings.from_env({**GOOD, "M5C_PASSWORD_MD5": "0" * 32})


def test_client_options_and_credentials() -> None:
    """The settings feed AsyncClient; missing credentials are named."""
    options = Settings.from_env(GOOD).client_options()
    assert options["nodes"] == ["http://127.0.0.1:8001", "https://[::1]:8443/base"]
    assert Credentials(**{k: options[k] for k in ("username", "password_md5", "apikey")})
    no_nodes = Settings.from_env({**GOOD, "M5C_BASE_URL": ""}).client_options()
    assert "nodes" not in no_nodes
    with pytest.raises(SettingsError, match="not set: M5C_PASSWORD, M5C_APIKEY") as caught:
        Settings.from_env({"M5C_USERNAME": "demo_user"}).credentials()
    assert caught.value.variable == "M5C_PASSWORD"


async def test_client_built_from_settings_sends_the_md5() -> None:
    """AsyncClient(**settings.client_options()) holds the md5 of M5C_PASSWORD."""
    from m5c_async import AsyncClient, md5_hex

    async with AsyncClient(**Settings.from_env(GOOD).client_options()) as client:
        assert md5_hex("s3cret pass") in client._creds.secrets()


def test_the_cli_stops_on_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad M5C_* value is exit 2 with the variable's name, before anything is sent."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("M5C_BASE_URL", "qingdao.example:80")
    assert main(["balance", "--username", "demo_user", "--password", "p", "--apikey", "k"]) == 2
    err = capsys.readouterr().err
    assert "M5C_BASE_URL" in err
    assert "qingdao.example" not in err


def _m5c_env_reads(path: Path) -> list[int]:
    """Lines of ``path`` reading an ``M5C_*`` variable through os.environ / os.getenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv", "environ.get", "getenv"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ",):
            key = node.slice
        if key is not None and ast.unparse(key).lstrip("f").strip("'\"").startswith("M5C_"):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_the_settings_read_the_environment() -> None:
    """No module but _config.py reads an M5C_* variable."""
    root = Path(m5c_async.__file__).parent
    found = {
        str(p.relative_to(root)): lines
        for p in root.rglob("*.py")
        if p.name != "_config.py" and (lines := _m5c_env_reads(p))
    }
    assert found == {}


def test_the_env_reader_finds_each_form(tmp_path: Path) -> None:
    """The check above sees get, getenv, subscripts and f-strings."""
    sample = tmp_path / "x.py"
    sample.write_text(
        "import os\n"
        "a = os.environ.get('M5C_A')\n"
        "b = os.getenv('M5C_B')\n"
        "c = os.environ['M5C_C']\n"
        "d = os.environ.get(f'M5C_{a}')\n"
        "e = os.environ.get('HOME')\n"
    )
    assert _m5c_env_reads(sample) == [2, 3, 4, 5]


def test_every_variable_is_documented() -> None:
    """docs/cli.md lists every variable Settings reads."""
    page = (Path(m5c_async.__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in ENVIRONMENT:
        assert f"`{name}`" in page, name
