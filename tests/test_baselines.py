"""The PyTorch baseline of benchmarks/throughput.py computes jaxinv's iterates."""

import sys

import numpy as np
import pytest
from conftest import REPO, require

sys.path.insert(0, str(REPO / "benchmarks"))


def test_torch_baseline_follows_jaxinv_iterates():
    require("torch")
    import throughput

    # Five steps: with random weights, two float32 implementations part ways at the first
    # max-pooling tie they resolve differently (measured: 3e-7 after 5 steps, 8e-4 after 10).
    chk = throughput.check_iterates(5, name="caffenet:conv5", batch=1)
    assert chk["relative_move_from_start"] > 0.1  # the check is not vacuous
    assert chk["relative_difference"] < 1e-5


def test_torch_baseline_energy_matches_jaxinv_terms():
    torch = require("torch")
    import throughput

    from jaxinv import optimize

    case = throughput.make_case("squeezenet1_1:fire9", 2, steps=1, seed=1)
    inv = throughput.torch_inversion(case)
    with torch.no_grad():
        got = inv.energy_terms(inv.u).numpy()
    for b in range(2):
        want = np.asarray(optimize.energy_terms(case.problem, case.rep.params,
                                                case.carries.variable[b], case.targets[b], None))
        # [data, λ_V TV, λ_α Σu⁶, total]
        np.testing.assert_allclose(got[b], want, rtol=2e-4)


def test_baseline_stops_at_the_layer():
    require("torch")
    from baselines.torch_inversion import build_network

    from jaxinv.networks import init_blobs

    blobs = init_blobs("caffenet")
    net = build_network("caffenet", blobs, "conv5")
    assert len(net) == 13 and all(not p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError):
        build_network("caffenet", blobs, "conv9")
