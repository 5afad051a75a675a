"""The atlas's parts (jaxinv.atlas): dataset examples against a loop of single passes, a layer's
units in one program against each unit alone, and dead units found, redirected and said.

SqueezeNet's fire2 at its small input size (24 px), a few steps and six pictures: the numbers
are compared exactly (or within float tolerance), not judged by eye.
"""

import dataclasses
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import shared_weights
from test_imagenet100 import pictures_folder

import jaxinv
from jaxinv import JaxinvError, images
from jaxinv.atlas.dead import redirected_relu
from jaxinv.atlas.examples import crop_box, dataset_examples
from jaxinv.atlas.layers import maximize_units
from jaxinv.representations.cnn import CNNFeatures

NETWORK = "squeezenet1_1"
LAYERS = ["fire2/concat", "fire3/concat"]
STEPS = 6


def network(layer, **options):
    return jaxinv.cnn(NETWORK, layer=layer, weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel",
                      **options)


def network_leaky():
    return network("fire2", relu_slope=0.05)


@pytest.fixture(scope="module")
def fire2():
    return network("fire2")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Six of the shared pictures, one of them gray (a gray JPEG is read as three equal channels)."""
    folder = tmp_path_factory.mktemp("pictures")
    for source in sorted(pictures_folder().glob("*.JPEG"))[:5]:
        shutil.copy(source, folder)
    gray = images.load(sorted(pictures_folder().glob("*.JPEG"))[7]).mean(axis=-1, keepdims=True)
    images.save_png(folder / "zz_gray.png", gray)
    return sorted(folder.iterdir())


def test_the_top_and_bottom_pictures_are_those_of_a_loop_of_single_forward_passes(fire2, files):
    found = dataset_examples(fire2, files, layers=LAYERS, k=3, batch=4)  # 4 + 2 (padded) pictures
    for layer in LAYERS:
        rep = network(layer)
        codes = np.stack([np.asarray(rep(images.load(f))) for f in files])  # one picture per pass
        flat = codes.reshape(len(files), -1, codes.shape[-1])
        s, where = flat.max(axis=1), flat.argmax(axis=1)  # (N, C)
        top = np.argsort(-s, axis=0, kind="stable")[:3].T  # (C, 3), ties in file order
        bottom = np.argsort(s, axis=0, kind="stable")[:3].T
        got = found[layer]
        assert got.pictures == len(files) and got.code_shape == codes.shape[1:]
        np.testing.assert_array_equal(got.top_pictures, top)
        np.testing.assert_array_equal(got.bottom_pictures, bottom)
        np.testing.assert_allclose(got.top_values, np.take_along_axis(s.T, top, axis=1), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got.bottom_values, np.take_along_axis(s.T, bottom, axis=1), rtol=1e-5, atol=1e-4)
        rows, cols = np.divmod(np.take_along_axis(where.T, top, axis=1), codes.shape[2])
        np.testing.assert_array_equal(got.top_positions, np.stack([rows, cols], axis=-1))
        assert np.all(np.diff(got.top_values, axis=1) <= 0) and np.all(np.diff(got.bottom_values, axis=1) >= 0)


def test_a_crop_is_the_receptive_field_around_the_position_kept_inside_the_picture():
    assert crop_box((0, 0), (56, 56, 128), field=23, size=227) == (0, 0, 23)
    assert crop_box((55, 55), (56, 56, 128), field=23, size=227) == (204, 204, 23)
    top, left, side = crop_box((28, 10), (56, 56, 128), field=23, size=227)
    assert side == 23 and abs(top + side / 2 - 28.5 * 227 / 56) <= 1 and abs(left + side / 2 - 10.5 * 227 / 56) <= 1
    assert crop_box((0, 0), (1, 1, 1000), field=400, size=227) == (0, 0, 227)  # a class: the whole picture


@pytest.fixture(scope="module")
def together(fire2):
    return maximize_units(fire2, [0, 1, 2, 3], key=jax.random.key(3), iterations=STEPS, unit_max=1.0,
                          progress=False)


def test_a_layers_units_in_one_program_equal_each_unit_alone(fire2, together):
    assert together.visualization.images.shape[:2] == (4, 1)
    assert together.redirected.any() and not together.redirected.all()  # both paths run in the batch
    for b in (0, 1):  # one dead at the start, one alive (asserted below), each alone with the same key
        alone = maximize_units(fire2, [b], key=jax.random.key(3), iterations=STEPS, unit_max=1.0, progress=False)
        assert alone.redirected[0] == together.redirected[b]
        np.testing.assert_allclose(alone.visualization.images[0], together.visualization.images[b], atol=1e-2)
        np.testing.assert_allclose(alone.visualization.values[0], together.visualization.values[b], rtol=1e-4)
    assert together.redirected[0] and not together.redirected[1]


@pytest.mark.parametrize("width", [1, 2])
def test_the_units_vectorised_together_do_not_change_the_pictures(fire2, together, width):
    """The runner's default vectorises fire2's four units in one vmap; one or two at a time must
    give the same pictures (the scale benchmark compares these widths' speeds)."""
    other = maximize_units(fire2, [0, 1, 2, 3], key=jax.random.key(3), iterations=STEPS, unit_max=1.0,
                           progress=False, vmap_width=width)
    np.testing.assert_array_equal(other.redirected, together.redirected)
    np.testing.assert_allclose(other.visualization.images, together.visualization.images, atol=1e-2)
    np.testing.assert_allclose(other.visualization.values, together.visualization.values, rtol=1e-4)


def test_the_redirected_relu_passes_only_a_gradient_that_raises_a_dead_input():
    x = jnp.array([-1.0, -2.0, -0.5])
    raise_it = jax.grad(lambda v: -jnp.sum(redirected_relu(v) * jnp.array([1.0, 1.0, -1.0])))(x)
    np.testing.assert_array_equal(raise_it, [-1.0, -1.0, 0.0])  # descent raises the first two; the third is held
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(jnp.maximum(v, 0.0)))(x), [0.0, 0.0, 0.0])
    alive = jnp.array([1.0, -2.0])
    np.testing.assert_array_equal(jax.grad(lambda v: -jnp.sum(redirected_relu(v)))(alive), [-1.0, 0.0])
    np.testing.assert_array_equal(redirected_relu(x), jnp.zeros(3))


def test_a_unit_made_dead_at_the_start_is_redirected_and_fixed_and_a_hopeless_one_is_flat(fire2, together):
    # channel 1 (alive at this start) is made dead: its pre-activation lowered below 0 on the start
    pre = jax.vmap(CNNFeatures(NETWORK, "fire2/expand1x1"), in_axes=(None, 0))(fire2.params, together.starts)
    params = jax.tree.map(lambda a: a, fire2.params)
    bias = params["layers"]["fire2/expand1x1"]["bias"]
    bias[...] = bias[...].at[1].add(-(float(pre[..., 1].max()) + 1.0)).at[4].add(-1e4)  # 4: dead everywhere
    dead = dataclasses.replace(fire2, params=params)
    made = maximize_units(dead, [1, 4], key=jax.random.key(3), iterations=STEPS, unit_max=1.0, progress=False)
    assert together.start_gradient[1] > 0 and np.all(made.start_gradient == 0) and made.redirected.all()
    assert made.visualization.values[0, 0] > 0 and not made.flat[0]  # started again, and excited
    assert made.visualization.values[1, 0] == 0 and made.flat[1]  # nothing excites it: said, not hidden


def test_bad_arguments_are_refused_in_one_line(fire2, files):
    with pytest.raises(JaxinvError, match="no channels"):
        maximize_units(fire2, [], key=jax.random.key(0))
    with pytest.raises(JaxinvError, match="redirect_steps"):
        maximize_units(fire2, [0], key=jax.random.key(0), redirect_steps=0)
    with pytest.raises(JaxinvError, match="no pictures"):
        dataset_examples(fire2, [], layers=LAYERS)
    with pytest.raises(JaxinvError, match="as trained"):
        dataset_examples(network_leaky(), files, layers=LAYERS)
