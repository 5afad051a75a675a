"""Transformation robustness: shapes kept, identity at zero strength, IJCV's jitter as one instance,
bilinear warps against scipy.ndimage, same key same bits, and the lucid-style chain inverting
average pooling through the unchanged Solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import require
from jaxinv.core import (BallPixels, Bounded, DecorrelatedColour, Fourier, Jitter, Pad, Rotate, Scale, ScaledPixels,
                         ToInput, Transformed, input_map)
from jaxinv.core.transforms import warp
from jaxinv.errors import JaxinvError
from test_core_fourier import SIZE, avgpool_problem, avgpool_solver, check_jit_vmap_and_bits, final_error

ALL = (Pad(2), Jitter(5), Scale(0.1), Rotate(10.0))


def lucid(rep, transforms=ALL):
    """Fourier + decorrelated colour + sigmoid in the representation's input space, seen through ``transforms``."""
    return Transformed(ToInput(Bounded(DecorrelatedColour(Fourier())), input_map(rep)), transforms)


def test_transformations_keep_shapes_and_are_the_identity_at_zero_strength():
    rep, _, _ = avgpool_problem()
    moved = lucid(rep)
    variables = moved.init(jax.random.key(0), (SIZE, SIZE, 3), 2)
    assert variables.shape == (2, 3, SIZE, SIZE)         # Pad(2) then Jitter(5): the same size inside
    assert moved.image(variables, key=jax.random.key(1)).shape == (2, SIZE, SIZE, 3)
    assert not np.array_equal(moved.image(variables, key=jax.random.key(1)), moved.image(variables))
    still = lucid(rep, (Pad(0), Jitter(1), Scale(0.0), Rotate(0.0)))
    plain = still.inner
    np.testing.assert_array_equal(still.image(variables, key=jax.random.key(1)), plain.image(variables))
    # strength turned off by the stage (active=False): scale and rotation are the identity
    np.testing.assert_allclose(Transformed(plain, (Scale(0.3), Rotate(40.0))).image(
        variables, key=jax.random.key(1), active=False), plain.image(variables), atol=1e-4)
    with pytest.raises(JaxinvError, match="leave no picture"):
        Transformed(plain, (Pad(20),)).variable_shape((SIZE, SIZE, 3), 1)


def test_ijcv_jitter_is_the_jitter_transformation():
    ball = BallPixels(jitter=4)
    variables = ball.init(jax.random.key(0), (9, 11, 3), 2)
    as_transform = Transformed(ScaledPixels(sigma=1.0), (Jitter(4),))
    assert as_transform.variable_shape((9, 11, 3), 2) == variables.shape
    for i in range(6):
        key = jax.random.key(i)
        for active in (True, False):
            expected = np.asarray(ball.image(variables, key=key, active=active))
            np.testing.assert_array_equal(Jitter(4)(variables, key=key, active=active), expected)
            np.testing.assert_array_equal(as_transform.image(variables, key=key, active=active), expected)
    np.testing.assert_array_equal(as_transform.image(variables), ball.image(variables))


def test_pad_then_jitter_places_the_picture_inside_a_constant_border():
    picture = jnp.arange(1 * 4 * 5 * 3, dtype=jnp.float32).reshape(1, 4, 5, 3) + 1.0
    framed = Transformed(ScaledPixels(sigma=1.0), (Pad(2, value=-7.0), Jitter(5)))
    seen = set()
    for i in range(30):
        view = np.asarray(framed.image(picture, key=jax.random.key(i)))
        padded = np.pad(np.asarray(picture), [(0, 0), (2, 2), (2, 2), (0, 0)], constant_values=-7.0)
        hits = [(dy, dx) for dy in range(5) for dx in range(5) if np.array_equal(view, padded[:, dy:dy + 4, dx:dx + 5])]
        assert len(hits) == 1
        seen.add(hits[0])
    assert len(seen) > 8
    reflected = Pad(1, mode="reflect")(picture)
    np.testing.assert_array_equal(reflected[:, 0, 1:-1], picture[:, 1])


@pytest.mark.parametrize("transform", [Scale(0.2), Rotate(30.0)])
def test_scale_and_rotation_are_bilinear_warps_as_scipy_computes_them(transform):
    ndimage = require("scipy.ndimage")
    images = jax.random.uniform(jax.random.key(0), (1, 9, 12, 2)) * 255.0
    key = jax.random.key(4)
    if isinstance(transform, Scale):
        change = float(jax.random.uniform(key, (), jnp.float32, -0.2, 0.2))
        matrix = np.eye(2) / (1.0 + change)
    else:
        angle = np.deg2rad(float(jax.random.uniform(key, (), jnp.float32, -30.0, 30.0)))
        matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([4.0, 5.5])
    expected = np.stack([ndimage.affine_transform(np.asarray(images[0, ..., c], np.float64), matrix,
                                                  offset=centre - matrix @ centre, order=1, mode="nearest")
                         for c in range(2)], axis=-1)
    np.testing.assert_allclose(transform(images, key=key)[0], expected, atol=1e-3)
    np.testing.assert_allclose(warp(images, jnp.asarray(matrix, jnp.float32))[0], expected, atol=1e-3)


def test_transformed_fourier_inverts_average_pooling_through_the_solver():
    rep, _, target = avgpool_problem()
    solver = avgpool_solver(lucid(rep), rate=0.05, steps=100, random_views=100)
    assert final_error(solver, target) < 1e-2


def test_transformed_under_jit_and_vmap_same_key_same_bits():
    """The whole lucid-style chain: Fourier, decorrelated colour, sigmoid, ToInput, Transformed."""
    rep, _, _ = avgpool_problem()
    check_jit_vmap_and_bits(lucid(rep))
    assert hash(lucid(rep)) == hash(lucid(rep))
