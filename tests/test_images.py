import os

import numpy as np
import pytest
from PIL import Image

from jaxinv import images
from jaxinv.errors import JaxinvError


def test_load_gray_rgba_16bit_palette(tmp_path):
    rgb = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((4, 5), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)).save(tmp_path / "g16.png")
    np.testing.assert_array_equal(images.load(tmp_path / "rgb.png"), rgb.astype(np.float32))
    g = images.load(tmp_path / "gray.png")
    assert g.shape == (4, 5, 3) and np.all(g[..., 0] == rgb[..., 0])
    np.testing.assert_array_equal(images.load(tmp_path / "rgba.png"), rgb.astype(np.float32))
    assert images.load(tmp_path / "pal.png").shape == (4, 5, 3)
    g16 = images.load(tmp_path / "g16.png")
    np.testing.assert_allclose(g16[..., 0], rgb[..., 0], atol=1e-3)
    assert images.load(tmp_path / "rgb.png", gray=True).shape == (4, 5, 1)


def test_load_errors(tmp_path):
    with pytest.raises(JaxinvError, match="not found"):
        images.load(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(JaxinvError, match="empty"):
        images.load(tmp_path / "empty.png")
    (tmp_path / "junk.png").write_bytes(b"this is not a picture at all")
    with pytest.raises(JaxinvError, match="cannot read"):
        images.load(tmp_path / "junk.png")
    with pytest.raises(JaxinvError, match="folder"):
        images.load(tmp_path)


def test_resize_warps_without_crop_and_keeps_range():
    picture = np.zeros((40, 80, 3), np.float32)
    picture[:, 40:] = 255.0
    out = images.resize(picture, (20, 20))
    assert out.shape == (20, 20, 3)
    assert out[:, :8].max() < 10 and out[:, 12:].min() > 245  # left half dark, right half bright


def test_save_png_roundtrip_and_stretch(tmp_path):
    picture = np.linspace(10, 20, 48, dtype=np.float32).reshape(4, 4, 3)
    images.save_png(tmp_path / "a.png", picture)
    images.save_png(tmp_path / "b.png", picture, stretch=True)
    a = np.asarray(Image.open(tmp_path / "a.png"))
    b = np.asarray(Image.open(tmp_path / "b.png"))
    np.testing.assert_array_equal(a, np.rint(picture).astype(np.uint8))
    assert b.min() == 0 and b.max() == 255
    images.save_png(tmp_path / "g.png", picture[..., :1])
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (4, 4)


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    images.save_png(target, np.zeros((2, 2, 3)))
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        images.save_png(target, np.full((2, 2, 3), 255.0))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_contrast_stretch_flat_image_is_finite():
    out = images.contrast_stretch(np.full((3, 3, 1), 7.0))
    assert np.all(out == 0)


def test_as_picture_validation():
    assert images.as_picture(np.zeros((3, 4))).shape == (3, 4, 1)
    assert images.as_picture(np.zeros((3, 4, 4))).shape == (3, 4, 3)
    with pytest.raises(JaxinvError, match="NaN"):
        images.as_picture(np.full((3, 3, 3), np.inf))
    with pytest.raises(JaxinvError, match="shape"):
        images.as_picture(np.zeros((2, 3, 3, 3)))


def test_rgb_to_gray_matches_matlab_weights():
    px = np.array([[[255.0, 0.0, 0.0], [0.0, 255.0, 0.0], [0.0, 0.0, 255.0]]], np.float32)
    np.testing.assert_allclose(images.rgb_to_gray(px)[0, :, 0], 255 * np.array([0.2989, 0.5870, 0.1140]), rtol=1e-6)
