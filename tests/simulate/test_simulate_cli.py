"""``gsp simulate``: bad input is refused with the allowed values, nothing is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.simulate import NightConfig, simulate_night

GSP = Path(sys.executable).parent / "gsp"


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _run(*args):
    """``gsp simulate ARGS`` through the real dispatcher, in this process (fast)."""
    import contextlib
    import io

    from gsp_extension.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["simulate", *map(str, args)])
        except SystemExit as exc:  # argparse refusals
            rc = exc.code
    return _Result(rc, out.getvalue(), err.getvalue())


def test_console_script_exits_non_zero_on_a_bad_mode(tmp_path):
    res = subprocess.run(
        [GSP, "simulate", tmp_path / "n", "--mode", "nope"], capture_output=True, text=True
    )
    assert res.returncode == 2 and "400_M2" in res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--mode", "400_M9", ["400_M2", "930_M5", "1200_M7"]),
        ("--camera", "Green", ["Red", "Blue"]),
        ("--binning", "4", ["1, 2, 3"]),
        ("--lamp", "Xe", ["HgArNe", "Ne"]),
        ("--obstype-convention", "eso", ["goodman", "lco", "mixed"]),
        ("--readout", "9kHz", ["344kHz ATTN3"]),
        ("--flexure", "abc", ["unbinned"]),
    ],
)
def test_bad_option_lists_allowed_values_and_writes_nothing(tmp_path, option, value, allowed):
    night = tmp_path / "night"
    res = _run(night, option, value)
    assert res.returncode != 0
    assert value in res.stderr
    for a in allowed:
        assert a in res.stderr
    assert list(tmp_path.iterdir()) == [], "something was written"


def test_cli_writes_a_night(tmp_path):
    night = tmp_path / "n"
    res = _run(
        night,
        "--n-bias",
        1,
        "--n-flats",
        1,
        "--n-arcs",
        1,
        "--n-science",
        0,
        "--binning",
        3,
        "--flexure",
        "0.5",
        "--camera",
        "blue",
    )
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in night.iterdir())[-1] == "truth.json"
    assert len(list(night.glob("*.fits"))) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["n"]


def test_existing_night_is_not_overwritten_without_force(tmp_path):
    night = tmp_path / "n"
    night.mkdir()
    (night / "keep.txt").write_text("mine")
    res = _run(night, "--n-bias", 1, "--n-flats", 0, "--n-arcs", 0, "--n-science", 0)
    assert res.returncode != 0 and "--force" in res.stderr
    assert [p.name for p in night.iterdir()] == ["keep.txt"]
    res = _run(night, "--n-bias", 1, "--n-flats", 0, "--n-arcs", 0, "--n-science", 0, "--force")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in night.iterdir()) == ["0001_bias_21-11-2026.fits", "truth.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["n"]


def test_a_failure_midway_leaves_no_half_night(tmp_path, monkeypatch):
    from pipeline.simulation import night as night_mod

    calls = {"n": 0}
    real = night_mod.NightSimulator._render

    def failing(self, p):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, p)

    monkeypatch.setattr(night_mod.NightSimulator, "_render", failing)
    target = tmp_path / "night"
    with pytest.raises(OSError, match="disk full"):
        simulate_night(target, NightConfig(n_bias=3, n_flats=0, n_arcs=0, n_science=0))
    assert list(tmp_path.iterdir()) == []


def test_flexure_list_must_match_the_frames(tmp_path):
    from pipeline.simulate import SimulationConfigError

    with pytest.raises(SimulationConfigError, match="one per arc/science/standard"):
        simulate_night(tmp_path / "n", NightConfig(n_arcs=1, n_science=1, flexure_px=[0.1]))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = _run(blocker / "night", "--n-bias", 1, "--n-flats", 0, "--n-arcs", 0, "--n-science", 0)
    assert res.returncode == 1
    assert "cannot write the night" in res.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
