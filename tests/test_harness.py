"""The test harness's own set-up (conftest.py): its faster threefry lowering draws the same bits."""

import jax
import numpy as np

from conftest import threefry_cpu_lowering


def draws(key: jax.Array) -> list[jax.Array]:
    split = jax.random.split(key, 3)
    return [jax.random.key_data(split), jax.random.uniform(split[0], (5, 7)), jax.random.normal(split[1], (33,)),
            jax.random.bits(split[2], (4, 4)), jax.vmap(lambda k: jax.random.normal(k, (3,)))(split)]


def test_unrolled_threefry_draws_the_bits_of_jaxs_own_lowering():
    key = jax.random.key(123)
    unrolled = jax.jit(draws)(key)  # the harness's lowering
    assert "stablehlo.while" not in jax.jit(draws).lower(key).as_text()
    try:
        assert threefry_cpu_lowering(rolled=True), "this jax has another threefry lowering: update conftest.py"
        jax.clear_caches()
        assert "stablehlo.while" in jax.jit(draws).lower(key).as_text()
        rolled = jax.jit(draws)(key)
    finally:
        threefry_cpu_lowering(rolled=False)
        jax.clear_caches()
    assert len(unrolled) == len(rolled)
    for a, b in zip(unrolled, rolled):
        np.testing.assert_array_equal(a, b)
