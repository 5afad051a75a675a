"""Objectives that add and scale like numbers (jaxinv.core.objectives).

References: numbers worked by hand on integer codes (exact in float32), the existing direction
builders of jaxinv.core.visualization, numpy inner products, and `maximization_from`'s energy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import JaxinvError
from jaxinv.core import objectives as O
from jaxinv.core import visualization as V
from jaxinv.core.terms import Objective, TermInputs, TotalVariation

SHAPE = (3, 3, 4)


def _inputs(code, mask=None):
    code = jnp.asarray(code, jnp.float32)
    image = jnp.zeros((code.shape[0], 4, 4, 3))
    return TermInputs(code, jnp.zeros(code.shape[1:]), mask, image, image)


def _integer_code(seed=0, shape=SHAPE, copies=2):
    return np.random.default_rng(seed).integers(-9, 10, size=(copies, *shape)).astype(np.float32)


def _value(code, e, mask=None):
    """(1/R) Σ_r ⟨M ⊙ code_r, e⟩ in float64, by hand."""
    code = np.asarray(code, np.float64) * (1.0 if mask is None else np.asarray(mask, np.float64))
    return float(np.mean([np.sum(c * np.asarray(e, np.float64)) for c in code]))


def _pieces():
    """Three linear pieces whose values on an integer code are integers (exact in float32)."""
    return O.neuron(0), O.neuron(1, position=(0, 2)), O.direction([1.0, 2.0, 0.0, -1.0], position=(2, 1))


def test_the_algebra_on_numbers():
    x = _inputs(_integer_code())
    A, B, C = _pieces()
    a, b, c = (float(p(x)) for p in (A, B, C))
    assert len({a, b, c}) == 3 and c != 0  # distinct, so a wrong sign or grouping shows
    objective = 1 * A + 3 * B - 5 * C
    assert objective.weights == (1.0, 3.0, -5.0)
    assert float(objective(x)[0]) == 1 * a + 3 * b - 5 * c
    assert (-(A - B)).weights == (-1.0, 1.0) and float((-(A - B))(x)[0]) == -a + b
    assert (2 * (A + B)).weights == (2.0, 2.0) and float((2 * (A + B))(x)[0]) == 2 * a + 2 * b
    # One peer library multiplied the running sum instead of the new term and flipped signs:
    # there A - B + C came out as A - (B + C). Here it is a - b + c, weights (1, -1, 1).
    chained = A - B + C
    assert chained.weights == (1.0, -1.0, 1.0)
    assert float(chained(x)[0]) == a - b + c and float(chained(x)[0]) != a - (b + c)
    assert float(sum([A, B, C])(x)[0]) == a + b + c
    np.testing.assert_array_equal(np.asarray(objective(x)[1]), [a, b, c])  # each piece's own value


def test_each_piece_is_its_builder_and_an_inner_product():
    code = _integer_code(1)
    v = np.array([0.5, -2.0, 1.0, 3.0], np.float32)
    picture = np.random.default_rng(2).normal(size=SHAPE).astype(np.float32)
    cases = [
        (O.neuron(2), V.neuron_direction(SHAPE, 2)),
        (O.neuron(3, position=(0, 2)), V.neuron_direction(SHAPE, 3, position=(0, 2))),
        (O.channel(1), V.channel_direction(SHAPE, 1)),
        (O.direction(v, position=(1, 0)), V.vector_direction(SHAPE, v, position=(1, 0))),
        (O.direction(v, average=True), V.vector_direction(SHAPE, v, average=True)),
        (O.class_logit(3), V.neuron_direction(SHAPE, 3)),
        (O.caricature(picture), V.caricature_direction(jnp.asarray(picture))),
    ]
    mask = jnp.asarray((np.arange(4) < 3).astype(np.float32))
    for piece, builder in cases:
        e = piece.direction(SHAPE)
        np.testing.assert_array_equal(np.asarray(e), np.asarray(builder), err_msg=type(piece).__name__)
        assert float(piece(_inputs(code))) == pytest.approx(_value(code, e), rel=1e-6, abs=1e-6)
        assert float(piece(_inputs(code, mask))) == pytest.approx(_value(code, e, mask), rel=1e-6, abs=1e-6)
    assert O.Class.layer == "logits" and O.class_logit(0).layer == "logits" and O.Neuron.layer is None
    logits = np.arange(10, dtype=np.float32)[None] * np.array([[1.0], [3.0]], np.float32)  # (R, classes): an fc code
    assert float(O.class_logit(7)(_inputs(logits))) == 14.0  # mean of 7 and 21
    np.testing.assert_array_equal(np.asarray(O.class_logit(7).direction((10,))), np.eye(10)[7])


def test_linear_direction_splits_the_linear_part_from_the_rest():
    A, B, C = _pieces()
    objective = 1 * A + 3 * B - 5 * C + 0.5 * O.diversity()
    e, rest = O.linear_direction(objective, SHAPE)
    eA, eB, eC = (np.asarray(p.direction(SHAPE)) for p in (A, B, C))
    np.testing.assert_array_equal(np.asarray(e), np.float32(1) * eA + np.float32(3) * eB + np.float32(-5) * eC)
    assert rest.terms == (V.Diversity(),) and rest.weights == (-0.5,)
    # diversity() is raised, so it is −Diversity: the host's energy −rest is the old diversity=0.5
    old = V.maximization_preset((32, 32, 3), stride=16, copies=3, iterations=4, diversity=0.5).objective
    assert (-rest).terms[0] == old.terms[-1] and (-rest).weights == (old.weights[-1],) == (0.5,)
    x = _inputs(np.random.default_rng(3).normal(size=(3, *SHAPE)))
    whole = float(objective(x)[0])
    assert whole == pytest.approx(_value(x.code, e) + float(rest(x)[0]), rel=1e-5)
    jitted, jrest = jax.jit(lambda o: O.linear_direction(o, SHAPE))(objective)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(e), rtol=1e-6)
    assert float(jrest.weights[0]) == -0.5
    user = O.channel(0) - 2.0 * TotalVariation()  # the user's own term is kept, weighted
    assert O.linear_direction(user, SHAPE)[1] == Objective((TotalVariation(),), (-2.0,))
    np.testing.assert_array_equal(np.asarray(O.linear_direction(O.diversity(), SHAPE)[0]), np.zeros(SHAPE))


def test_a_stack_runs_in_one_trace_and_equals_each_alone():
    traces = []

    def directions(objective):
        traces.append(1)
        return O.linear_direction(objective, SHAPE)[0]

    run = jax.jit(jax.vmap(directions))
    batch = O.stack([O.channel(c % 4) for c in range(8)])
    e = np.asarray(run(batch))
    assert e.shape == (8, *SHAPE) and len(traces) == 1
    for i in range(8):
        np.testing.assert_array_equal(e[i], np.asarray(O.linear_direction(O.channel(i % 4), SHAPE)[0]))
    other = np.asarray(run(O.stack([O.channel(3 - c % 4) for c in range(8)])))  # new units: no new trace
    assert len(traces) == 1 and np.array_equal(other[0], e[3])
    mixed = O.stack([O.channel(1) + 2 * O.neuron(0), 1 * O.channel(2) - O.neuron(3, position=None)])
    sums = np.asarray(jax.vmap(directions)(mixed))
    assert sums.shape == (2, *SHAPE)
    np.testing.assert_array_equal(sums[1], np.asarray(O.linear_direction(O.channel(2) - O.neuron(3), SHAPE)[0]))
    with pytest.raises(JaxinvError, match="objective 1 .*separate calls"):
        O.stack([O.channel(1), O.channel(1) + O.neuron(2)])
    with pytest.raises(JaxinvError, match="separate calls"):
        O.stack([O.neuron(1), O.neuron(1, position=(0, 0))])
    with pytest.raises(JaxinvError, match="separate calls"):
        O.stack([O.caricature(np.ones(SHAPE)), O.caricature(np.ones((2, 2, 4)))])
    with pytest.raises(JaxinvError, match="at least one"):
        O.stack([])


def test_out_of_range_is_refused_and_traced_equals_eager():
    with pytest.raises(JaxinvError, match="channel 4 is out of range"):
        O.channel(4).direction(SHAPE)
    with pytest.raises(JaxinvError, match="channel -1 is out of range"):
        O.neuron(-1).direction(SHAPE)
    with pytest.raises(JaxinvError, match="neuron row 3"):
        O.neuron(0, position=(3, 0)).direction(SHAPE)
    with pytest.raises(JaxinvError, match="neuron column 5"):
        O.direction(np.ones(4), position=(0, 5)).direction(SHAPE)
    with pytest.raises(JaxinvError, match="class 10 is out of range"):
        O.class_logit(10).direction((1, 1, 10))
    with pytest.raises(JaxinvError, match="length 4"):
        O.direction(np.ones(3)).direction(SHAPE)
    with pytest.raises(JaxinvError, match="same layer"):
        O.caricature(np.ones((2, 2, 4))).direction(SHAPE)
    with pytest.raises(JaxinvError, match="whole number"):
        O.channel(1.5)
    with pytest.raises(JaxinvError, match="row, column"):
        O.neuron(0, position=(1, 2, 3))
    with pytest.raises(JaxinvError, match="channel 4 is out of range"):  # a stack, checked before vmap traces it
        O.check_objective(O.stack([O.channel(0) + O.neuron(1), O.channel(4) + O.neuron(2)]), SHAPE)
    O.check_objective(O.stack([O.channel(0), O.channel(3)]), SHAPE)  # in range: no error
    pieces = [O.neuron(1, position=(2, 0)), O.neuron(3, position=(0, 1))]
    eager = np.stack([np.asarray(p.direction(SHAPE)) for p in pieces])
    traced = jax.jit(jax.vmap(lambda o: O.linear_direction(o, SHAPE)[0]))(O.stack(pieces))
    np.testing.assert_array_equal(np.asarray(traced), eager)
    built = jax.vmap(lambda c: O.channel(c).direction(SHAPE))(jnp.arange(4))  # constructors take tracers
    np.testing.assert_array_equal(np.asarray(built), np.stack([np.asarray(V.channel_direction(SHAPE, c))
                                                               for c in range(4)]))


def test_scaled_by_weights_each_linear_piece_by_its_own_unit_weight():
    m = jnp.asarray([2.0, 4.0, 5.0, 8.0])
    objective = O.channel(1) - 2 * O.neuron(3) + 0.5 * O.diversity()
    scaled = O.scaled_by(objective, lambda term, weight: V.unit_weight(100, 1, m[term.channel]))
    np.testing.assert_allclose([float(w) for w in scaled.weights], [1 / 4, -2 / 8, -0.5], rtol=1e-6)
    assert O.scaled_by(objective, [10.0, 3.0]).weights == (10.0, -6.0, -0.5)
    assert O.scaled_by(objective, 2.0).weights == (2.0, -4.0, -0.5)
    with pytest.raises(JaxinvError, match="one per piece"):
        O.scaled_by(objective, [1.0, 2.0, 3.0])
    batch = O.stack([O.channel(c) for c in range(4)])
    weights = jax.vmap(lambda o: O.scaled_by(o, lambda t, w: V.unit_weight(100, 1, m[t.channel])).weights[0])(batch)
    np.testing.assert_allclose(np.asarray(weights), 1.0 / np.asarray(m), rtol=1e-6)
