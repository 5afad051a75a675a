"""The inversion program: linear recovery, batching, determinism, compilation, modes, errors."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxinv
from jaxinv import masks, program
from jaxinv.core import PaperObjective, solver
from jaxinv.core.presets import size_weight
from jaxinv.errors import JaxinvError
from jaxinv.images import default_picture, resize
from jaxinv.representations.pooling import average_pool

REP = average_pool(factor=2)
SHORT = [(0.004, 30), (0.0004, 20)]


@pytest.fixture(scope="module")
def pictures():
    base = default_picture("astronaut")
    return [resize(base[:256, :256], (32, 32)), resize(base[256:, 256:], (32, 32)),
            resize(default_picture("coffee"), (32, 32))]


def test_linear_representation_is_recovered_without_regularisers(pictures):
    result = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), lambda_tv=0.0, lambda_alpha=0.0,
                           schedule="shallow")
    assert result.errors[0] < 1e-3
    assert result.energy[0, 0, 0] > 100 * result.errors[0]


def test_batch_equals_per_item_loop(pictures):
    key = jax.random.key(7)
    batch = jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT)
    for i, picture in enumerate(pictures):
        single = jaxinv.invert(REP, picture, key=jax.random.fold_in(key, i), seeds=2, schedule=SHORT)
        np.testing.assert_allclose(batch.inputs[i], single.inputs, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(batch.errors[i], single.errors, rtol=1e-4)
    assert batch.images.shape == (3, 2, 32, 32, 3)
    assert batch.energy.shape == (3, 2, 50, 4)


def test_vmap_width_groups_give_the_same_results(pictures):
    """6 problems as one vmap, as groups of 4 (and a remainder of 2), and one by one."""
    key = jax.random.key(3)
    runs = [jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT, vmap_width=w)
            for w in (None, 4, 1)]
    for other in runs[1:]:
        np.testing.assert_allclose(other.inputs, runs[0].inputs, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(other.energy, runs[0].energy, rtol=1e-4)


def test_default_vmap_width_follows_backend_and_the_weights_read():
    def features(params, x):
        return x * params["used"][0, 0]

    def width(used_shape, backend="cpu"):
        params = {"used": jnp.zeros(used_shape), "unread": jnp.zeros((4500, 4096))}  # 74 MB unread
        return program.default_vmap_width(features, params, (8, 8, 3), backend=backend)

    assert program.used_param_bytes(features, {"used": jnp.zeros((9, 9)), "unread": jnp.zeros(5)},
                                     (8, 8, 3)) == 9 * 9 * 4
    assert width((9, 9)) == 1                   # nothing worth sharing: one at a time
    assert width((1000, 1000)) == 4             # 4 MB of weights: groups of 4
    assert width((9216, 4096)) is None          # 151 MB streamed per step: the whole batch
    assert width((1000, 1000), backend="gpu") is None
    assert program.default_vmap_width(lambda p, x: x, None, (8, 8, 3), backend="cpu") == 1


def test_same_key_same_bits_other_key_other_result(pictures):
    a = jaxinv.invert(REP, pictures[0], key=jax.random.key(1), seeds=2, schedule=SHORT)
    b = jaxinv.invert(REP, pictures[0], key=jax.random.key(1), seeds=2, schedule=SHORT)
    c = jaxinv.invert(REP, pictures[0], key=jax.random.key(2), seeds=2, schedule=SHORT)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.energy, b.energy)
    assert not np.allclose(a.inputs, c.inputs)
    assert not np.allclose(a.inputs[0], a.inputs[1])  # the seeds differ


def test_new_image_or_key_does_not_recompile(pictures):
    jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=SHORT, chunk=10)
    before = program.trace_count()
    jaxinv.invert(REP, pictures[1], key=jax.random.key(5), schedule=SHORT, chunk=10)
    jaxinv.invert(REP, pictures[2], key=jax.random.key(6), schedule=SHORT, chunk=10)
    assert program.trace_count() == before
    jaxinv.invert(REP, pictures[2], key=jax.random.key(6), schedule=SHORT, chunk=7)  # another program
    assert program.trace_count() == before + 1


def test_energy_falls_and_snapshots_include_the_papers_iteration(pictures):
    result = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule="cnn")
    assert 376 in result.snapshot_iterations.tolist()
    assert result.snapshot_iterations.tolist()[:2] == [1, 26]
    assert result.snapshots.shape == (1, 16, 32, 32, 3)
    total = result.energy[0, :, 3]
    assert total[-1] < total[0] / 10
    # the last snapshot is the iterate after step 376, not the final one
    assert not np.allclose(result.snapshots[0, -1], result.inputs[0])


def test_first_snapshot_is_one_plain_gradient_step(pictures):
    paper = solver(REP, "paper", image_shape=(32, 32, 3), schedule="cnn")
    key = jax.random.key(3)
    result = jaxinv.invert(REP, pictures[0], key=key, schedule="cnn")
    seed_key = jax.random.split(key, 1)[0]
    carry = paper.init(seed_key)
    target = REP(pictures[0])
    grad = jax.grad(lambda v: paper.energy(v, target)[0])(carry.variables)
    expected = (carry.variables - 0.004 * grad)[0] * jaxinv.core.SIGMA
    np.testing.assert_allclose(result.snapshots[0, 0], expected, rtol=1e-4, atol=1e-3)


def test_paper_start_has_norm_sigma_at_the_papers_size():
    paper = solver(REP, "paper", image_shape=(227, 227, 3), copies=4, schedule="cnn")
    x = paper.image(paper.init(jax.random.key(0)))
    assert float(jnp.linalg.norm(x.ravel())) == pytest.approx(jaxinv.core.SIGMA, rel=1e-5)
    assert size_weight(PaperObjective(), (227, 227, 3)) == 1.0


def test_coupled_mode_shares_one_normaliser(pictures):
    seeds = 3
    result = jaxinv.invert(REP, pictures[0], key=jax.random.key(4), seeds=seeds, coupled=True,
                           schedule=[(0.004, 1)])
    paper = solver(REP, "paper", image_shape=(32, 32, 3), copies=seeds, schedule=[(0.004, 1)])
    carry = paper.init(jax.random.split(jax.random.key(4), 1)[0])
    target = np.asarray(REP(pictures[0]))
    codes = [np.asarray(REP.code(x)) for x in paper.image(carry)]
    want = sum(np.sum((c - target) ** 2) for c in codes) / (seeds * np.sum(target ** 2))
    assert result.energy[0, 0, 0] == pytest.approx(want, rel=1e-4)
    np.testing.assert_array_equal(result.energy[0], result.energy[2])
    assert result.images.shape[0] == seeds


def test_invert_a_code_given_directly(pictures):
    code = np.asarray(REP(pictures[1]))
    a = jaxinv.invert(REP, code=code, image_shape=(32, 32, 3), key=jax.random.key(0), schedule=SHORT)
    b = jaxinv.invert(REP, pictures[1], key=jax.random.key(0), schedule=SHORT)
    np.testing.assert_allclose(a.inputs, b.inputs, rtol=1e-5, atol=1e-4)


def test_channel_mask_ignores_the_other_channels(pictures):
    code = np.asarray(REP(pictures[0]))
    mask = masks.channel_group(code.shape, 1, groups=3)
    other = code.copy()
    other[..., 1:] = 0.0  # only channel 0 is constrained; the rest of the target is irrelevant
    other[..., 1:] += 50.0
    a = jaxinv.invert(REP, code=code, image_shape=(32, 32, 3), key=jax.random.key(0), mask=mask, schedule=SHORT)
    b = jaxinv.invert(REP, code=other, image_shape=(32, 32, 3), key=jax.random.key(0), mask=mask, schedule=SHORT)
    np.testing.assert_allclose(a.inputs, b.inputs, rtol=1e-5, atol=1e-4)


def test_ijcv_method_projects_and_decreases(pictures):
    rep = average_pool(factor=8)
    result = jaxinv.invert(rep, pictures[0], key=jax.random.key(0), prior="ijcv",
                           objective=jaxinv.core.IJCVObjective(data_weight=100.0))
    norms = np.linalg.norm(result.inputs[0], axis=-1)
    assert norms.max() <= 160.0 + 1e-3
    assert result.energy[0, -1, 3] < result.energy[0, 0, 3]
    assert result.errors[0] < 0.1
    assert result.energy.shape[1] == 350


def test_an_objective_decides_the_method_and_its_schedule():
    ijcv = jaxinv.core.IJCVObjective(data_weight=100.0)
    assert jaxinv.inversion.resolve_prior(REP, (16, 16, 3), None, objective=ijcv).name == "ijcv"
    tiny = np.zeros((16, 16, 3), np.float32)
    tiny[4:9, 4:9] = 200.0
    # No method given: the IJCV objective brings the IJCV schedule (350 steps, not the paper's).
    result = jaxinv.invert(REP, tiny, key=jax.random.key(0), objective=ijcv, keep_snapshots=False)
    assert result.energy.shape[1] == 350
    with pytest.raises(JaxinvError, match="drop method"):
        jaxinv.invert(REP, tiny, key=jax.random.key(0), objective=ijcv, prior="paper")
    with pytest.raises(JaxinvError, match="drop method"):
        jaxinv.invert(REP, tiny, key=jax.random.key(0), objective=jaxinv.core.PaperObjective(), prior="ijcv")
    with pytest.raises(JaxinvError, match="unknown method"), pytest.warns(DeprecationWarning, match="prior="):
        jaxinv.invert(REP, tiny, key=jax.random.key(0), method="sgd")
    with pytest.warns(DeprecationWarning, match=r"jaxinv\.invert\(method=\.\.\.\) is deprecated; use prior="):
        old = jaxinv.invert(REP, tiny, key=jax.random.key(0), method="ijcv", keep_snapshots=False)
    assert old.prior == "ijcv" and old.energy.shape[1] == 350


@pytest.mark.parametrize("value", [0.0, 255.0, 128.0])
def test_no_nan_on_flat_black_saturated_or_tiny_pictures(value):
    for shape in [(32, 32, 3), (2, 2, 3)]:
        picture = np.full(shape, value, np.float32)
        picture[0, 0, 0] = 255.0 - value if value != 128.0 else 129.0  # a non-zero code
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a near-zero code may diverge: flagged, not NaN
            result = jaxinv.invert(REP, picture, key=jax.random.key(0), schedule=SHORT)
        assert np.all(np.isfinite(result.inputs)) and np.all(np.isfinite(result.images))
        assert result.diverged.shape == (1,)


def test_bad_input_errors(pictures):
    key = jax.random.key(0)
    cases = [
        (dict(picture=np.zeros((1, 1, 3))), "smaller"),
        (dict(picture=pictures[0], schedule=[(0.004, 0)]), "iterations"),
        (dict(picture=pictures[0], schedule=[(0.004, -3)]), "iterations"),
        (dict(picture=pictures[0], lambda_tv=-1.0), "negative"),
        (dict(picture=pictures[0], seeds=0), "seeds"),
        (dict(code=np.zeros((3, 3, 3)), image_shape=(32, 32, 3)), "does not fit"),
        (dict(code=np.full((16, 16, 3), np.nan), image_shape=(32, 32, 3)), "NaN"),
        (dict(picture=np.full((8, 8, 3), np.nan)), "NaN"),
        (dict(picture=pictures[0], mask=np.ones((5, 5, 5))), "mask"),
        (dict(picture=pictures[0], prior="lbfgs"), "unknown prior 'lbfgs'"),
        (dict(picture=pictures[0], prior="lucid", lambda_tv=1.0), "the lucid prior takes no option lambda_tv"),
        (dict(picture=pictures[0], prior="ijcv", data_weight=2.0, objective=jaxinv.core.IJCVObjective()),
         "config= .* or data_weight="),
        (dict(picture=pictures[0], schedule="fast"), "schedule"),
        (dict(picture=pictures[0], vmap_width=0), "vmap_width"),
    ]
    for kwargs, match in cases:
        picture = kwargs.pop("picture", None)
        with pytest.raises(JaxinvError, match=match):
            jaxinv.invert(REP, picture, key=key, **kwargs)
    jaxinv.invert(REP, pictures[0], key=key, lambda_tv=0.0, lambda_alpha=0.0, schedule=[(0.004, 2)])


def test_a_diverging_inversion_is_retried_at_lower_rates(pictures):
    schedule = [(40.0, 30)]  # far too large a rate: the α-norm overflows
    with pytest.warns(UserWarning, match="diverged"):
        stuck = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=schedule, retries=0)
    assert stuck.diverged.all() and stuck.learning_rate_scale.tolist() == [1.0]
    assert np.all(np.isfinite(stuck.inputs))
    fixed = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=schedule, retries=8, retry_factor=0.1)
    assert not fixed.diverged.any() and fixed.learning_rate_scale[0] < 1.0
    assert fixed.errors[0] < 1.0
    fine = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=SHORT)
    assert fine.learning_rate_scale.tolist() == [1.0]


def test_batches_run_in_groups_within_a_memory_budget(pictures):
    key = jax.random.key(9)
    whole = jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT)
    grouped = jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT, max_batch=4)
    # other batch sizes compile to other programs: equal up to float32 rounding
    np.testing.assert_allclose(whole.inputs, grouped.inputs, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(whole.energy, grouped.energy, rtol=1e-4, atol=1e-6)
    skeleton, arrays = program.split_solver(solver(REP, "paper", image_shape=(32, 32, 3), schedule=SHORT))
    per_problem = program.bytes_per_problem(program.Program(skeleton, steps=50), arrays, (16, 16, 3), None)
    assert per_problem > 32 * 32 * 3 * 4  # at least the image itself
    split = jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT, memory_budget=3 * per_problem)
    np.testing.assert_allclose(whole.inputs, split.inputs, rtol=1e-4, atol=1e-3)
    with pytest.raises(JaxinvError, match="need about .* more than the budget"):
        jaxinv.invert_batch(REP, pictures, key=key, seeds=2, schedule=SHORT, memory_budget=3 * per_problem,
                            oversize="error")
    with pytest.raises(JaxinvError, match="max_batch"):
        jaxinv.invert_batch(REP, pictures, key=key, schedule=SHORT, max_batch=0)


@pytest.mark.parametrize("name", ["hog", "hogb", "dsift"])
@pytest.mark.parametrize("value", [0.0, 128.0, 255.0])
def test_flat_pictures_have_nothing_to_invert(name, value):
    """A flat picture's HOG/DSIFT code is all zeros: ‖Φ0‖² = 0 is refused, not run to inf."""
    rep = jaxinv.registry.get(name)
    picture = np.full((48, 64, 3), value, np.float32)
    with pytest.raises(JaxinvError, match="nothing to invert") as info:
        jaxinv.invert(rep, picture, key=jax.random.key(0), schedule=[(0.004, 2)])
    assert "\n" not in str(info.value)
    with pytest.raises(JaxinvError, match="picture 1 .*nothing to invert"):
        textured = np.random.default_rng(0).uniform(0, 255, picture.shape).astype(np.float32)
        jaxinv.invert_batch(rep, [textured, picture], key=jax.random.key(0), schedule=[(0.004, 2)])


def test_a_flat_picture_through_a_network_gives_a_finite_result():
    from conftest import shared_weights

    net = jaxinv.cnn("squeezenet1_1", layer="fire3",
                     weights=shared_weights() / "squeezenet_v1.1" / "squeezenet_v1.1.caffemodel")
    result = jaxinv.invert(net, np.full((50, 60, 3), 128.0, np.float32), key=jax.random.key(0),
                           schedule=[(0.004, 3)], keep_snapshots=False)
    assert np.all(np.isfinite(result.targets)) and np.any(result.targets != 0)  # biases: a non-zero code
    for field in (result.errors, result.images, result.inputs, result.energy):
        assert np.all(np.isfinite(field))


@pytest.mark.parametrize("key", [0, np.uint32(3), "0", None, jnp.zeros(3, jnp.uint32)])
def test_a_key_that_is_not_a_jax_random_key_names_the_fix(pictures, key):
    for call in (lambda: jaxinv.invert(REP, pictures[0], key=key),
                 lambda: jaxinv.invert_batch(REP, pictures, key=key)):
        with pytest.raises(JaxinvError, match=r"key=jax\.random\.key\(0\)"):
            call()
    jaxinv.invert(REP, pictures[0], key=jax.random.PRNGKey(0), schedule=[(0.004, 1)])  # raw keys still work


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan")])
def test_infinite_weights_and_rates_are_refused(pictures, bad):
    for kwargs in (dict(lambda_tv=bad), dict(lambda_alpha=bad), dict(schedule=[(bad, 3)]),
                   dict(objective=lambda: jaxinv.core.IJCVObjective(data_weight=bad)),
                   dict(retry_factor=bad)):
        with pytest.raises(JaxinvError, match="finite|retry_factor|rate"):
            if callable(kwargs.get("objective")):
                kwargs["objective"] = kwargs["objective"]()
            jaxinv.invert(REP, pictures[0], key=jax.random.key(0), **kwargs)


def test_overflow_is_retried_recorded_and_never_reaches_the_result(pictures, capsys):
    """A rate that overflows: retried at lower rates with a message, the scale recorded, and
    the result finite even where every retry overflowed too."""
    with pytest.warns(UserWarning, match="diverged"):
        result = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), seeds=2, schedule=[(1e30, 3)],
                               progress=True)
    said = capsys.readouterr().err
    assert "2 of 2 avgpool2 inversions overflowed" in said and "0.3x" in said and "0.09x" in said
    np.testing.assert_allclose(result.learning_rate_scale, [0.09, 0.09], rtol=1e-6)
    assert result.diverged.all()
    for field in (result.errors, result.images, result.inputs, result.energy, result.codes, result.snapshots):
        assert np.all(np.isfinite(field))
    fine = jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=SHORT, progress=True)
    assert "overflowed" not in capsys.readouterr().err and not fine.diverged.any()
    np.testing.assert_array_equal(fine.learning_rate_scale, [1.0])


def test_the_runner_compiles_the_weights_as_constants(pictures):
    """A new λ_V is a new chunk program (the core's sweep compiles once: tests/test_core_solver.py)."""
    jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=[(0.004, 3)], lambda_tv=0.5)
    before = program.trace_count()
    results = [jaxinv.invert(REP, pictures[0], key=jax.random.key(0), schedule=[(0.004, 3)], lambda_tv=lam,
                             lambda_alpha=lam * 1e8) for lam in (1.0, 5.0, 1.0)]
    assert program.trace_count() == before + 2
    assert len({float(r.energy[0, -1, 3]) for r in results}) == 2
