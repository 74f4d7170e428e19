"""Only regular files under the data root are ever read by the service."""

from __future__ import annotations

import pytest

from gsp_extension.api.base import APIError
from gsp_extension.api.paths import resolve_under_root


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "data"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "a.fits").write_bytes(b"x")
    (tmp_path / "secret").write_text("s")
    return root


def test_a_file_under_the_root_is_served(root):
    assert resolve_under_root(root, root / "raw" / "a.fits", what="p") == (root / "raw" / "a.fits")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("{root}/raw/../../secret", 403),
        ("/etc/passwd", 403),
        ("raw/a.fits", 400),
        ("{root}/raw/missing.fits", 404),
        ("{root}/raw", 404),
        ("{root}/raw/a.fits\x00", 400),
    ],
)
def test_refused_paths(root, path, status):
    with pytest.raises(APIError) as err:
        resolve_under_root(root, path.format(root=root), what="p")
    assert err.value.status_code == status


def test_a_symlink_leaving_the_root_is_refused(root):
    link = root / "raw" / "link.fits"
    link.symlink_to(root.parent / "secret")
    with pytest.raises(APIError) as err:
        resolve_under_root(root, link, what="p")
    assert err.value.status_code == 403
