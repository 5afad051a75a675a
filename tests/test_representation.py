"""The Representation value and a user's own Flax module plugged in through `from_function`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxinv.errors import JaxinvError
from jaxinv.inversion import invert
from jaxinv.representation import Representation, from_function


class TinyNet(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(3, 8, (3, 3), strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, (3, 3), strides=2, rngs=rngs)

    def __call__(self, x, *, layer: str):
        x = jax.nn.relu(self.conv1(x))
        if layer == "conv1":
            return x
        return self.conv2(x)


def user_representation(layer: str) -> Representation:
    graphdef, state = nnx.split(TinyNet(rngs=nnx.Rngs(0)))

    def features(params, x):
        return nnx.merge(graphdef, params)(x[None], layer=layer)[0]

    return from_function(features, params=state, name=f"tiny:{layer}", input_shape=(24, 24, 3),
                         preprocess=lambda p: np.asarray(p, np.float32) - 128.0,
                         deprocess=lambda x: np.asarray(x) + 128.0)


def test_user_flax_module_is_inverted_through_the_same_api():
    picture = np.asarray(jax.random.uniform(jax.random.key(1), (24, 24, 3)) * 255)
    for layer, shape in [("conv1", (12, 12, 8)), ("conv2", (6, 6, 16))]:
        rep = user_representation(layer)
        assert rep(picture).shape == shape
        result = invert(rep, picture, key=jax.random.key(0), schedule=[(0.004, 60), (0.0004, 20)])
        assert result.images.shape == (1, 24, 24, 3)
        assert result.energy[0, -1, 3] < result.energy[0, 0, 3] / 2


def test_call_preprocesses_and_checks_shapes():
    rep = user_representation("conv1")
    with pytest.raises(JaxinvError, match="does not fit"):
        rep(np.zeros((20, 24, 3)))
    with pytest.raises(JaxinvError, match="single image"):
        rep.code(jnp.zeros((1, 24, 24, 3)))
    free = Representation(name="any", features=lambda p, x: x.mean(axis=-1), channels=1, min_size=(4, 4))
    with pytest.raises(JaxinvError, match="channel"):
        free.check_input((8, 8, 3))
    with pytest.raises(JaxinvError, match="smaller"):
        free.check_input((3, 8, 1))
    free.check_input((4, 4, 1))


def test_features_run_under_jit_and_vmap():
    rep = user_representation("conv2")
    xs = jax.random.normal(jax.random.key(0), (3, 24, 24, 3))
    batched = jax.jit(jax.vmap(rep.features, in_axes=(None, 0)))(rep.params, xs)
    for i in range(3):
        np.testing.assert_allclose(batched[i], rep.code(xs[i]), rtol=1e-5, atol=1e-5)
