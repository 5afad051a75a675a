import os
import warnings

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


def test_save_webp_is_a_webp_near_the_picture_and_much_smaller_than_its_png(tmp_path):
    picture = images.resize(images.default_picture("astronaut"), (128, 128))
    images.save_webp(tmp_path / "a.webp", picture)
    images.save_png(tmp_path / "a.png", picture)
    with Image.open(tmp_path / "a.webp") as opened:
        assert opened.format == "WEBP" and opened.size == (128, 128)
    back = images.load(tmp_path / "a.webp")
    assert np.abs(back - np.rint(picture)).mean() < 4.0  # a few grey levels of codec loss, on average
    assert (tmp_path / "a.webp").stat().st_size * 3 < (tmp_path / "a.png").stat().st_size
    images.save_webp(tmp_path / "b.webp", picture, stretch=True)
    stretched = images.load(tmp_path / "b.webp")
    assert stretched.min() < 8 and stretched.max() > 247
    with pytest.raises(JaxinvError, match=r"^quality = 0; use a WebP quality from 1 to 100"):
        images.save_webp(tmp_path / "c.webp", picture, quality=0)


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


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` pixels and holds none (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height, megapixels", [(100_000, 100_000, "10000.0"), (10_000, 6_000, "60.0"),
                                                       (12_000, 10_000, "120.0")])
def test_huge_pictures_are_refused_from_their_header(tmp_path, width, height, megapixels):
    """The bomb header, a 60-megapixel photo and one Pillow would only warn about: one line
    naming the size and the fix, and no Pillow warning."""
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(width, height))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail here
        with pytest.raises(JaxinvError) as info:
            images.load(path)
    message = str(info.value)
    assert f"{width}x{height}" in message and megapixels in message and "--max-megapixels" in message
    assert "\n" not in message


def test_the_pixel_limit_can_be_raised(tmp_path):
    path = tmp_path / "pic.png"
    Image.fromarray(np.zeros((100, 200, 3), np.uint8)).save(path)
    with pytest.raises(JaxinvError, match="above the limit of 0.01"):
        images.load(path, max_pixels=10_000)
    assert images.load(path, max_pixels=20_000).shape == (100, 200, 3)
    assert images.load(path, max_pixels=None).shape == (100, 200, 3)
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's own setting is left as it was


def test_unreadable_picture_says_permission_not_format(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", denied)  # as root, chmod 000 would not stop the read
    with pytest.raises(JaxinvError) as info:
        images.load(path)
    assert "permission denied" in str(info.value) and "PNG, JPEG" not in str(info.value)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0" + b"\0" * 40, b"GIF89a" + b"\xff" * 20,
                                     b"BM" + b"\xff" * 60])
def test_truncated_and_hostile_headers_are_one_line_errors(tmp_path, content):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    with pytest.raises(JaxinvError, match="cannot read|megapixels"):
        images.load(path)


def test_truncated_real_picture_is_refused(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(JaxinvError, match="cannot read"):
        images.load(path)
