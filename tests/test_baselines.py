"""The PyTorch baseline of benchmarks/throughput.py (`step_cases`) computes jaxinv's iterates."""

import numpy as np
import pytest
from conftest import require


def test_torch_baseline_follows_jaxinv_iterates():
    require("torch")
    import step_cases

    # Five steps: with random weights, two float32 implementations part ways at the first
    # max-pooling tie they resolve differently (measured: 3e-7 after 5 steps, 8e-4 after 10).
    chk = step_cases.check_iterates(5, name="caffenet:conv5", batch=1)
    assert chk["relative_move_from_start"] > 0.1  # the check is not vacuous
    assert chk["relative_difference"] < 1e-5


def test_torch_baseline_energy_matches_jaxinv_terms():
    torch = require("torch")
    import step_cases

    case = step_cases.make_case("squeezenet1_1:fire9", 2, steps=1, seed=1)
    inv = step_cases.torch_inversion(case)
    with torch.no_grad():
        got = inv.energy_terms(inv.u).numpy()
    # The core records each term unweighted: weigh the regularisers by the preset's λ_V and λ_α.
    weights = np.asarray(case.solver.objective.weights, np.float64)
    for b in range(2):
        total, values = case.solver.energy(case.states.variables[b], case.targets[b], None)
        values = np.asarray(values, np.float64)
        want = np.concatenate([values[:1], weights[1:] * values[1:], [float(total)]])
        # [data, λ_V TV, λ_α Σu⁶, total]
        np.testing.assert_allclose(got[b], want, rtol=2e-4)


def test_baseline_stops_at_the_layer():
    torch = require("torch")
    from baselines.torch_inversion import build_network

    from jaxinv.networks import init_blobs

    blobs = init_blobs("caffenet")
    net = build_network("caffenet", blobs, "conv5")
    assert net.layer == "conv5" and not list(net.parameters())  # weights are buffers: no gradient
    assert not any(b.requires_grad for b in net.buffers())
    assert net(torch.zeros(1, 3, 227, 227)).shape == (1, 256, 13, 13)
    with pytest.raises(ValueError, match="conv9"):
        build_network("caffenet", blobs, "conv9")


@pytest.mark.parametrize("network, layer, resolved, shape", [
    ("squeezenet1_1", "fire9", "fire9/concat", (1, 512, 14, 14)),
    ("googlenet", "inception_4a", "inception_4a/output", (1, 512, 14, 14)),
])
def test_baseline_blocks_mean_their_output(network, layer, resolved, shape):
    torch = require("torch")
    from baselines.torch_inversion import build_network
    from torch_reference import torch_model

    from jaxinv.networks import init_blobs

    blobs = init_blobs(network, key=3)
    net = build_network(network, blobs, layer)
    size = 227 if network == "squeezenet1_1" else 224
    x = np.random.default_rng(0).uniform(-100, 100, (1, size, size, 3)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy()
    assert net.layer == resolved and got.shape == shape
    want = torch_model(network, blobs)(x)[resolved].transpose(0, 3, 1, 2)  # every layer, recorded
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


def test_googlenet_baseline_follows_jaxinv_iterates():
    require("torch")
    import step_cases

    # One step moves the image by 1.8× its start's norm; the two float32 gradients through 40
    # convolutions, LRN and max pools (random weights) then differ by 1.4e-5 relative (measured;
    # 7.9e-5 after 3 steps). A wrong layer, weight or constant differs by O(1).
    chk = step_cases.check_iterates(1, name="googlenet:inception_4a", batch=1)
    assert chk["relative_move_from_start"] > 0.5
    assert chk["relative_difference"] < 1e-4


def test_torch_inversion_moves_to_a_device_and_back():
    torch = require("torch")
    import step_cases

    case = step_cases.make_case("caffenet:conv5", 1, steps=2, seed=2)
    moved = step_cases.torch_inversion(case).to("meta")  # any device: meta has no data
    assert moved.u.device.type == "meta" and moved.u.requires_grad
    assert all(b.device.type == "meta" for b in moved.net.buffers())
    stay = step_cases.torch_inversion(case).to(torch.device("cpu"))
    stay.run(2)
    assert stay.images_nhwc().shape == (1, 227, 227, 3) and np.all(np.isfinite(stay.images_nhwc()))


def _unit_runs(torch, **options):
    from baselines.torch_inversion import build_network
    from baselines.torch_maximization import TorchUnitMaximization

    from jaxinv.networks import init_blobs

    blobs = init_blobs("squeezenet1_1", key=4)
    u0 = np.random.default_rng(0).normal(0.0, 1e-3, (2, 64, 64, 3)).astype(np.float32)
    def make(**more):
        return TorchUnitMaximization(build_network("squeezenet1_1", blobs, "fire5/expand3x3"), [3, 17], u0,
                                     schedule=[(1e-7, 50)], lambda_tv=1.0, **{**options, **more})
    return blobs, u0, make


def test_torch_unit_maximization_is_minus_the_units_centre_value_in_jaxinv():
    torch = require("torch")
    import jaxinv

    blobs, u0, make = _unit_runs(torch)
    run = make()
    with torch.no_grad():
        got = run.data_term(run.u).numpy()
    rep = jaxinv.cnn("squeezenet1_1", layer="fire5/expand3x3", weights=blobs)
    for b, channel in enumerate((3, 17)):
        code = np.asarray(rep.features(rep.params, u0[b] * run.sigma))  # (H', W', C)
        want = -code[code.shape[0] // 2, code.shape[1] // 2, channel]
        assert abs(want) > 1e-3  # not a dead unit: the comparison says something
        np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-6)


def test_torch_unit_maximization_raises_its_units_with_a_seeded_jitter():
    torch = require("torch")
    _, _, make = _unit_runs(torch, jitter=2)
    first, again, other, still = make(seed=1), make(seed=1), make(seed=2), make(jitter=0)
    with torch.no_grad():
        before = -still.data_term(still.u).numpy()  # not first's: a jittered term draws a shift
    for run in (first, again, other):
        run.run(10)
    with torch.no_grad():
        first.jitter = 0
        after = -first.data_term(first.u).numpy()
    assert np.all(after > before) and np.all(np.isfinite(first.images_nhwc()))
    np.testing.assert_array_equal(first.variable_nhwc(), again.variable_nhwc())  # same seed, same shifts
    assert not np.array_equal(first.variable_nhwc(), other.variable_nhwc())
    moved = make().to("meta")
    assert moved.channels.device.type == "meta" and moved.u.device.type == "meta"
