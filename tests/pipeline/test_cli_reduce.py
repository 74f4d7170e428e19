"""``gsp reduce`` in-process: table, exit codes, usage errors."""

from __future__ import annotations

import argparse
import json

import rawframes

from pipeline.cli import reduce as cli


def _run(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_reduce_a_small_night(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, role in enumerate(("bias", "flat", "science")):
        rawframes.write(raw / f"{i:04d}_{role}.fits", role)
    (raw / "0009_broken.fits").write_text("not fits")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"cosmic_ray_rejection": "none", "min_bias_frames": 1}))
    rc = _run(
        [
            str(raw),
            "--out",
            str(tmp_path / "out"),
            "--settings",
            str(settings),
            "--quiet",
            "--ccd-only",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "0002_science.fits" in out and "zst_0002_science.fits" in out
    assert "0009_broken.fits" in out and "not a FITS file" in out
    assert "4 files: 2 calibration, 1 reduced, 1 skipped" in out
    assert (tmp_path / "out" / "fzst_0002_science.fits").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    assert _run([str(tmp_path / "absent"), "--out", str(tmp_path / "o")]) == 2
    assert _run([str(raw), "--out", str(raw / "products")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"flat_normalization": "median"}))
    assert _run([str(raw), "--out", str(tmp_path / "o"), "--settings", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "inside the raw folder" in err
    assert "flat_normalization='median'" in err and "mean, simple, full" in err


def test_lamp_offset_options_override_the_settings_file(tmp_path, capsys):
    """``--pen-shift`` and ``--bulb-separation`` set the wavelength calibration's lamp
    offsets (the settings file's otherwise); a bad value is a usage error naming the
    allowed ones, from the option or from the file."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"bulb_separation": "apply"}))
    args = parser.parse_args([str(tmp_path), "--out", "o", "--settings", str(path)])
    red, _ = cli._settings(args)
    assert (red.pen_shift, red.bulb_separation) == ("measure", "apply")
    args = parser.parse_args(
        [str(tmp_path), "--out", "o", "--settings", str(path), "--pen-shift", "apply"]
        + ["--bulb-separation", "measure"]
    )
    red, _ = cli._settings(args)
    assert (red.pen_shift, red.bulb_separation) == ("apply", "measure")
    path.write_text(json.dumps({"pen_shift": "anchor"}))
    raw = tmp_path / "raw"
    raw.mkdir()
    assert _run([str(raw), "--out", str(tmp_path / "out"), "--settings", str(path)]) == 2
    assert "allowed values: measure, apply" in capsys.readouterr().err
