"""The simulator's per-run decisions: PlatformSettings, the CLI and scenario files set them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from m5c_async.protocol import Limiter
from m5c_async.simulator import (
    PlatformSettings,
    add_arguments,
    load_scenario,
    scenario_options,
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"limiter": "leaky"}, "leaky"),
        ({"tolerance": -1.0}, "tolerance"),
        ({"soap_password": "sha1"}, "soap_password"),
        ({"format_from": "header"}, "format_from"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], message: str) -> None:
    """Each knob refuses a value outside its choices."""
    with pytest.raises(ValueError, match=message):
        PlatformSettings(**changes)  # type: ignore[arg-type]


def test_settings_defaults_and_string_limiter() -> None:
    """Sliding is the default; a limiter given as text becomes the enum."""
    assert PlatformSettings().limiter is Limiter.SLIDING
    assert PlatformSettings(limiter="fixed").limiter is Limiter.FIXED  # type: ignore[arg-type]


def test_scenario_file_sets_the_run_options(tmp_path: Path) -> None:
    """Top-level keys of a scenario file choose the run's decisions; events are read as before."""
    path = tmp_path / "strict.toml"
    path.write_text(
        'limiter = "fixed"\nformat_from = "query"\nunrelated = 1\n\n'
        '[[events]]\nat = 5\nnode = "qingdao"\ndown = true\n',
        encoding="utf-8",
    )
    assert scenario_options(path) == {"limiter": "fixed", "format_from": "query"}
    assert [(e.at, e.node) for e in load_scenario(path)] == [(5.0, "qingdao")]
    listed = tmp_path / "events.json"
    listed.write_text('[{"at": 1, "node": "beijing", "latency": 0.1}]', encoding="utf-8")
    assert scenario_options(listed) == {}


def test_cli_offers_every_knob() -> None:
    """--limiter, --tolerance, --format-from and --soap-password parse to the settings' values."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    knobs = ["--limiter", "gcra", "--tolerance", "0.5", "--format-from", "body"]
    args = parser.parse_args([*knobs, "--soap-password", "md5"])
    assert (args.limiter, args.tolerance, args.format_from, args.soap_password) == (
        "gcra",
        0.5,
        "body",
        "md5",
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--limiter", "leaky"])
