"""Objectives that compose, planned for `maximize`: each piece weighted exactly as written and by
the authors' (10000/rf²)/m, and a batch of objectives run as one compiled program."""

import jax
import numpy as np
import pytest

from conftest import shared_weights

import jaxinv
from jaxinv import program
from jaxinv.core import channel_direction, neuron_direction, unit_weight
from jaxinv.core.objectives import channel, diversity, neuron
from jaxinv.plan import plan_maximization, unit_extremes
from jaxinv.visualize import maximize

LAYER = "fire3/expand3x3"


@pytest.fixture(scope="module")
def fire3():
    return jaxinv.cnn("squeezenet1_1", layer=LAYER,
                      weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")


def test_one_times_a_plus_three_b_minus_five_c_weighs_each_piece_exactly_so(fire3):
    """A peer library multiplied the running sum instead (so −5·C also scaled A and B, and signs
    flipped); here e = 1·s_A e_A + 3·s_B e_B − 5·s_C e_C with s = (10000/rf²)/m per unit."""
    plan = plan_maximization(fire3, 1 * neuron(4) + 3 * channel(10) - 5 * neuron(9), image_size=32)
    stats = unit_extremes("squeezenet1_1", LAYER)
    shape = (7, 7, 64)
    field = plan.field
    e_a, e_b, e_c = neuron_direction(shape, 4), channel_direction(shape, 10), neuron_direction(shape, 9)
    m_a, m_b, m_c = float(stats["max"][4]), float(stats["mean_max"][10]), abs(float(stats["min"][9]))
    want_units = 1 * e_a + 3 * e_b - 5 * e_c
    want = (1 * unit_weight(field, 1, m_a) * e_a + 3 * unit_weight(field, 1, m_b) * e_b
            - 5 * unit_weight(field, 1, m_c) * e_c)
    np.testing.assert_allclose(np.asarray(plan.units[0]), np.asarray(want_units), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(plan.targets[0]), np.asarray(want), rtol=1e-6)
    assert plan.reference[0] == pytest.approx(1 * m_a + 3 * m_b + 5 * m_c, rel=1e-6)
    assert plan.labels == ("neuron 4 + 3 channel 10 + -5 neuron 9",)
    assert not plan.rest.terms


def test_other_terms_are_shared_by_the_batch_and_must_agree(fire3):
    plan = plan_maximization(fire3, [neuron(1) + 0.5 * diversity(), neuron(2) + 0.5 * diversity()], image_size=32)
    assert plan.rest.weights == (-0.5,) and plan.rest.names == ("diversity",)
    with pytest.raises(jaxinv.JaxinvError, match="differ across the batch"):
        plan_maximization(fire3, [neuron(1) + 0.5 * diversity(), neuron(2)], image_size=32)


def test_a_batch_of_objectives_of_any_shape_is_one_compiled_program(fire3):
    options = dict(key=jax.random.key(0), iterations=3, image_size=32)
    maximize(fire3, [neuron(1), channel(2) - neuron(3), 2 * neuron(5)], **options)
    before = program.trace_count()
    out = maximize(fire3, [neuron(7), channel(14) - neuron(9), 2 * neuron(10)], **options)
    assert program.trace_count() == before  # other units, same program
    assert out.images.shape == (3, 1, 32, 32, 3) and np.all(np.isfinite(out.values))


def test_a_layers_channels_are_its_codes_depth_and_the_published_widths(fire3):
    """SqueezeNet v1.1's fire3 expands to 64 + 64, pool10 scores 1000 classes; GoogLeNet's
    inception_4d 5x5 branch has 64 filters (Szegedy et al. 2015, table 1)."""
    from jaxinv.plan import layer_channels

    code = fire3.features(fire3.params, np.zeros((227, 227, 3), np.float32))
    assert layer_channels("squeezenet1_1", LAYER) == code.shape[-1] == 64
    assert layer_channels("squeezenet1_1", "pool10") == 1000
    assert layer_channels("googlenet", "inception_4d/5x5") == 64
