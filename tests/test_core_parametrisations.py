"""The papers' parametrisations: starts, views, projection, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.core import BallPixels, ScaledPixels


def test_scaled_pixels_start_has_the_asked_norm_and_image_is_sigma_u():
    p = ScaledPixels(sigma=10.0, start_norm=0.5)
    u = p.init(jax.random.key(0), (5, 6, 3), 2)
    assert u.shape == (2, 5, 6, 3)
    assert float(jnp.linalg.norm(u)) == pytest.approx(0.5, rel=1e-5)
    np.testing.assert_array_equal(p.image(u), u * 10.0)
    np.testing.assert_array_equal(p.pixels(u), u)
    starts = jax.jit(jax.vmap(lambda k: p.init(k, (5, 6, 3), 1)))(jax.random.split(jax.random.key(1), 3))
    np.testing.assert_allclose(starts[1], p.init(jax.random.split(jax.random.key(1), 3)[1], (5, 6, 3), 1), rtol=1e-6)


def test_ball_pixels_crop_integer_views_and_project():
    p = BallPixels(bound=80.0, bound_plus=160.0, jitter=3)
    v = p.init(jax.random.key(0), (4, 5, 3), 1)
    assert v.shape == (1, 6, 7, 3)
    np.testing.assert_array_equal(p.image(v), v[:, 1:5, 1:6])   # no key: the centre view
    seen = set()
    for i in range(40):
        view = np.asarray(p.image(v, key=jax.random.key(i)))
        offsets = [(dy, dx) for dy in range(3) for dx in range(3)
                   if np.array_equal(view, np.asarray(v[:, dy:dy + 4, dx:dx + 5]))]
        assert len(offsets) == 1  # an integer crop of the variable
        seen.add(offsets[0])
    assert len(seen) > 4
    np.testing.assert_array_equal(p.image(v, key=jax.random.key(0), active=False), v[:, 1:5, 1:6])
    big = v * 100.0
    norms = jnp.linalg.norm(p.project(big), axis=-1)
    assert float(norms.max()) <= 160.0 * (1 + 1e-6)
    small = jnp.full((1, 2, 2, 3), 1.0)
    np.testing.assert_array_equal(p.project(small), small)


def test_spectral_pixels_start_and_images_are_scaled_pixels_through_the_spectrum():
    """A change of variables only: the same start u for a key, u = Fourier.image(Z), x = σ u."""
    from jaxinv.core import Fourier, SpectralPixels

    spectral, scaled = SpectralPixels(sigma=10.0, start_norm=0.5), ScaledPixels(sigma=10.0, start_norm=0.5)
    z = spectral.init(jax.random.key(3), (6, 7, 3), 2)
    assert z.shape == spectral.variable_shape((6, 7, 3), 2) == (2, 3, 6, 7)
    u = scaled.init(jax.random.key(3), (6, 7, 3), 2)
    np.testing.assert_allclose(spectral.pixels(z), u, rtol=0, atol=1e-6 * float(jnp.abs(u).max()))
    np.testing.assert_allclose(spectral.pixels(z), Fourier().image(z), rtol=1e-6)
    np.testing.assert_allclose(spectral.image(z), 10.0 * spectral.pixels(z), rtol=1e-6)
    starts = jax.jit(jax.vmap(lambda k: spectral.init(k, (6, 7, 3), 1)))(jax.random.split(jax.random.key(1), 3))
    np.testing.assert_allclose(starts[2], spectral.init(jax.random.split(jax.random.key(1), 3)[2], (6, 7, 3), 1),
                               rtol=1e-5, atol=1e-7)
