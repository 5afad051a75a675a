"""`conv2d`: XLA's convolution forward, a kernel gradient by matrix products that matches XLA's
own and finite differences, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from jaxinv.core.convolution import conv2d, kernel_gradient
from jaxinv.errors import JaxinvError

SHAPES = [  # (x shape, kernel (kh, kw), padding)
    ((1, 9, 11, 3), (3, 3), ((1, 1), (1, 1))),
    ((2, 8, 7, 4), (5, 3), ((2, 1), (0, 3))),   # uneven kernel and padding, two pictures
    ((1, 6, 10, 2), (1, 1), ((0, 0), (0, 0))),
    ((1, 12, 9, 5), (4, 4), ((1, 2), (2, 1))),  # an even kernel
    ((1, 7, 7, 3), (7, 7), ((3, 3), (3, 3))),   # the kernel as large as the picture
]


def _lax(x, kernel, padding):
    return lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _draw(shape, size, padding, outputs=3, seed=0):
    kx, kk, kg = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, shape)
    kernel = jax.random.normal(kk, (*size, shape[-1], outputs))
    out_shape = jax.eval_shape(lambda a, b: _lax(a, b, padding), x, kernel).shape
    return x, kernel, jax.random.normal(kg, out_shape)


@pytest.mark.parametrize("shape,size,padding", SHAPES)
def test_kernel_gradient_equals_xlas_under_jit(shape, size, padding):
    x, kernel, grad = _draw(shape, size, padding)
    with jax.default_matmul_precision("highest"):
        expected = jax.vjp(lambda k: _lax(x, k, padding), kernel)[1](grad)[0]
        got = jax.jit(kernel_gradient, static_argnums=(2, 3))(x, grad, size, padding)
    assert got.shape == kernel.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_conv2d_forward_is_xlas_and_its_gradients_match_xlas_and_finite_differences():
    for shape, size, padding in SHAPES:
        x, kernel, grad = _draw(shape, size, padding, seed=1)
        forward = jax.jit(conv2d, static_argnums=2)(x, kernel, padding)
        assert np.array_equal(forward, jax.jit(_lax, static_argnums=2)(x, kernel, padding))
        with jax.default_matmul_precision("highest"):
            ours = jax.grad(lambda a, b: jnp.sum(conv2d(a, b, padding) * grad), argnums=(0, 1))(x, kernel)
            theirs = jax.grad(lambda a, b: jnp.sum(_lax(a, b, padding) * grad), argnums=(0, 1))(x, kernel)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    x, kernel, _ = _draw((1, 5, 6, 2), (3, 3), ((1, 1), (1, 1)), outputs=2, seed=2)
    with jax.default_matmul_precision("highest"):
        check_grads(lambda a, b: conv2d(a, b, ((1, 1), (1, 1))), (x, kernel), order=1, modes=["rev"],
                    atol=2e-2, rtol=2e-2)


def test_conv2d_vmaps_over_copies_with_their_own_kernels():
    """A generator's copies: each its own kernel (vmapped), gradients as one copy at a time."""
    padding = ((2, 2), (2, 2))
    xs = jax.random.normal(jax.random.key(3), (3, 1, 10, 9, 4))
    kernels = jax.random.normal(jax.random.key(4), (3, 5, 5, 4, 6))
    loss = lambda x, k: jnp.sum(jnp.tanh(conv2d(x, k, padding)))  # noqa: E731
    with jax.default_matmul_precision("highest"):
        batched = jax.jit(jax.vmap(jax.grad(loss, argnums=1)))(xs, kernels)
        for i in range(3):
            single = jax.grad(lambda k: jnp.sum(jnp.tanh(_lax(xs[i], k, padding))))(kernels[i])
            np.testing.assert_allclose(batched[i], single, rtol=1e-5, atol=1e-4)


def test_negative_padding_is_refused():
    x, kernel, _ = _draw((1, 6, 6, 2), (3, 3), ((1, 1), (1, 1)))
    with pytest.raises(JaxinvError, match="padding"):
        conv2d(x, kernel, ((-1, 1), (1, 1)))
