"""Activation maximisation and caricatures on the pretrained networks (jaxinv.visualize).

The sign tests score with the network as trained (not leaky) against the extremes measured
over the 100 shared ImageNet pictures (``scripts/channel_extremes.py``). Sizes and iterations
are reduced from the authors' (300 iterations at the size rule) to what still passes with a
margin, so that the file stays a small part of CI's 20 minutes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import shared_weights

import jaxinv
from jaxinv import JaxinvError, images
from jaxinv.networks import graph as G
from jaxinv.core.objectives import class_logit, direction, diversity, neuron
from jaxinv.plan import input_size, logits_layer, unit_extremes
from jaxinv.visualize import caricature, maximize

FILES = {"squeezenet1_1": ("squeezenet_v1.1", "squeezenet_v1.1.caffemodel"),
         "googlenet": ("bvlc_googlenet", "bvlc_googlenet.caffemodel")}


def network(name, layer, **options):
    return jaxinv.cnn(name, layer=layer, weights=shared_weights().joinpath(*FILES[name]), **options)


@pytest.fixture(scope="module")
def fire3():
    return network("squeezenet1_1", "fire3/expand3x3")


@pytest.fixture(scope="module")
def picture():
    from test_imagenet100 import pictures_folder
    return images.load(sorted(pictures_folder().glob("*.JPEG"))[0])


@pytest.mark.parametrize("name, layer, size, iterations", [
    ("squeezenet1_1", "fire9/expand3x3", 128, 100),
    ("googlenet", "inception_4d/5x5", 96, 60),
])
def test_maximising_beats_every_picture_and_minimising_goes_below(name, layer, size, iterations):
    rep = network(name, layer)
    stats = unit_extremes(name, layer)
    high = maximize(rep, neuron(0), key=jax.random.key(0), iterations=iterations, image_size=size)
    low = maximize(rep, -neuron(0), key=jax.random.key(0), iterations=iterations, image_size=size)
    # values: the objective (±the centre neuron of channel 0) scored with the trained network (the
    # optimisation saw leaky ReLUs); the lowered neuron's value is minus the objective's
    assert high.values[0, 0] > stats["max"][0] and high.reference[0] == stats["max"][0]
    assert -low.values[0, 0] < stats["min"][0] < 0 and low.reference[0] == -stats["min"][0]
    assert np.all((high.images >= 0) & (high.images <= 255))


@pytest.mark.parametrize("name, layer", [("squeezenet1_1", "fire9/concat"), ("googlenet", "inception_4d/output")])
def test_a_caricature_doubles_the_inner_product_with_the_pictures_code(name, layer, picture):
    rep = network(name, layer)
    out = caricature(rep, picture, key=jax.random.key(0), iterations=100, image_size=96)
    x0 = images.resize(rep.preprocess(picture), (96, 96))
    features = jax.jit(rep.features)  # the trained network, on its own
    code0 = np.asarray(features(rep.params, jnp.asarray(x0)), np.float64)
    code = np.asarray(features(rep.params, jnp.asarray(out.inputs[0, 0])), np.float64)
    assert out.reference[0] == pytest.approx(1.0, rel=1e-4)  # a ReLU code: ⟨Φ0, e⟩ = 1
    assert np.sum(code * code0) >= 2 * np.sum(code0 * code0)
    assert out.values[0, 0] == pytest.approx(np.sum(code * code0) / np.sum(code0 * code0), rel=1e-3)


def test_a_batch_of_objectives_equals_each_run_alone_and_same_key_same_bits(fire3):
    options = dict(key=jax.random.key(3), iterations=10, seeds=2)
    batch = maximize(fire3, [neuron(c) for c in (5, 1, 9)], **options)
    alone = maximize(fire3, neuron(1), **options)
    np.testing.assert_allclose(alone.inputs[0], batch.inputs[1], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(alone.values[0], batch.values[1], rtol=1e-4)
    assert not np.allclose(batch.inputs[0], batch.inputs[1])  # the objectives differ, and so do their images
    code = jax.jit(fire3.features)(fire3.params, jnp.asarray(batch.inputs[1, 0]))  # as trained, not leaky
    assert code.shape == (7, 7, 64) and float(code[3, 3, 1]) == pytest.approx(float(batch.values[1, 0]), rel=1e-4)
    again = maximize(fire3, [neuron(c) for c in (5, 1, 9)], **options)
    np.testing.assert_array_equal(again.inputs, batch.inputs)
    assert batch.image_size == input_size("squeezenet1_1", "fire3/expand3x3") == 32


def test_diversity_spreads_the_seeds_feature_statistics_and_keeps_the_objective():
    rep = network("squeezenet1_1", "fire5/expand3x3")

    def run(weight):
        out = maximize(rep, [neuron(c) + weight * diversity() for c in (3, 5)], key=jax.random.key(0),
                       iterations=60, seeds=4, image_size=48)
        codes = jax.vmap(jax.vmap(rep.features, in_axes=(None, 0)), in_axes=(None, 0))(rep.params, out.inputs)
        codes = np.asarray(codes, np.float64).reshape(2, 4, -1, codes.shape[-1])
        grams = np.einsum("brpc,brpd->brcd", codes, codes).reshape(2, 4, -1)
        grams /= np.linalg.norm(grams, axis=-1, keepdims=True)
        distance = np.mean([np.linalg.norm(grams[:, i] - grams[:, j], axis=-1)
                            for i in range(4) for j in range(i + 1, 4)])
        return distance, out.values.mean()

    (plain, objective), (diverse, objective_diverse) = run(0.0), run(3.0)
    assert diverse >= 1.2 * plain
    assert abs(objective_diverse - objective) <= 0.1 * abs(objective)


def test_leaky_relus_only_when_asked(fire3):
    x = jax.random.normal(jax.random.key(1), (32, 32, 3)) * 60
    net = jaxinv.weights.load_network("squeezenet1_1", weights=shared_weights().joinpath(*FILES["squeezenet1_1"]))
    as_trained = np.asarray(net.apply(x[None], layer="fire3/expand3x3")[0])
    np.testing.assert_array_equal(np.asarray(fire3.features(fire3.params, x)), as_trained)
    leaky = network("squeezenet1_1", "fire3/expand3x3", relu_slope=0.05)
    assert not np.allclose(np.asarray(leaky.features(leaky.params, x)), as_trained)
    # a two-layer graph of 1×1 convolutions against numpy: W2 · leaky(W1 x + b1) + b2
    rng = np.random.default_rng(0)
    blobs = {"a": [rng.normal(size=(4, 3, 1, 1)), rng.normal(size=(4,))],
             "b": [rng.normal(size=(2, 4, 1, 1)), rng.normal(size=(2,))]}
    nodes = G.chain(G.conv("a", 4, 1), G.relu("r"), G.conv("b", 2, 1))
    graph = G.Graph(nodes, G.params_from_blobs(nodes, (5, 5, 3), blobs))
    x = rng.normal(size=(1, 5, 5, 3)).astype(np.float32)
    hidden = x @ blobs["a"][0][:, :, 0, 0].T + blobs["a"][1]
    for slope in (0.0, 0.05):
        expected = np.where(hidden > 0, hidden, slope * hidden) @ blobs["b"][0][:, :, 0, 0].T + blobs["b"][1]
        got = np.asarray(graph(jnp.asarray(x), layer="b", relu_slope=slope))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(JaxinvError, match="relu_slope"):
        network("squeezenet1_1", "fire3/expand3x3", relu_slope=1.5)


def test_bad_input_is_a_jaxinv_error(fire3, picture):
    key = jax.random.key(0)
    cases = [
        (lambda: dict(objective=neuron(64)), "channel 64 is out of range"),
        (lambda: dict(objective=class_logit(1000)), "class 1000 is out of range"),
        (lambda: dict(objective=neuron(0, position=(40, 0))), "neuron row 40"),
        (lambda: dict(objective=direction(np.ones(5))), "length 64"),
        (lambda: dict(objective=[]), "no objective"),
        (lambda: dict(objective=neuron(1.5)), "whole number"),
        (lambda: dict(objective=neuron(0), seeds=0), r"^seeds = 0; use a whole number >= 1$"),
        (lambda: dict(objective=neuron(0) + class_logit(3)), "mixes class scores"),
        (lambda: dict(objective="channel 3"), "not an objective"),
        (lambda: dict(objective=neuron(0), channels=1), "beside an objective"),
    ]
    for options, words in cases:
        with pytest.raises(JaxinvError, match=words):
            maximize(fire3, key=key, iterations=1, **options())
    with pytest.raises(JaxinvError, match="not a picture"):
        maximize(picture, neuron(0), key=key)
    with pytest.raises(JaxinvError, match="needs a picture"):
        caricature(fire3, None, key=key)
    with pytest.raises(JaxinvError, match="key"):
        maximize(fire3, neuron(0), key=0)
    assert logits_layer("googlenet") == "loss3/classifier" and logits_layer("squeezenet1_1") == "pool10"


@pytest.mark.parametrize("name, rate", [("lucid", 0.05), ("maco", 0.2)])
def test_a_named_prior_maximises_past_every_picture(name, rate):
    """`maximize(prior=...)`: the prior's parametrisation and Adam on −⟨Φ, e⟩ + its regularisers
    (fire5 channels 0 and 3 at 64×64, 40 steps; 60 steps reach 4.5–6× the maxima, measured)."""
    rep = network("squeezenet1_1", "fire5/expand3x3")
    out = maximize(rep, [neuron(0), neuron(3)], key=jax.random.key(0), image_size=64, prior=name,
                   schedule=[(rate, 40)])
    assert np.all(out.values[:, 0] > unit_extremes("squeezenet1_1", "fire5/expand3x3")["max"][[0, 3]])
    assert out.energy.shape[1] == 40 and np.all(np.isfinite(out.energy))
    with pytest.raises(JaxinvError, match="unknown prior"):
        maximize(rep, neuron(0), key=jax.random.key(0), prior="fourier")
    with pytest.raises(JaxinvError, match="pass iterations="):
        maximize(rep, neuron(0), key=jax.random.key(0), prior="ijcv", schedule=[(1.0, 5)])
    with pytest.raises(JaxinvError, match="pass schedule="):
        maximize(rep, neuron(0), key=jax.random.key(0), prior=name, iterations=5)


def test_the_keywords_of_0_1_still_work_with_a_warning(fire3):
    options = dict(key=jax.random.key(3), iterations=5)
    with pytest.warns(DeprecationWarning, match="objectives"):
        old = maximize(fire3, channels=[1, 2], **options)
    new = maximize(fire3, [neuron(1), neuron(2)], **options)
    np.testing.assert_array_equal(old.inputs, new.inputs)
    assert old.labels == new.labels == ("neuron 1", "neuron 2")
