"""Are the layers that reconstruct worse also the more invariant ones? Spread against error.

For each layer, the code of one picture is inverted from S independent random starts
(``invert(..., seeds=S)``, vmapped). Two numbers per layer:

- the reconstruction error, ‖Φ(x*)−Φ0‖²/‖Φ0‖² in feature space (mean over seeds), and
  1 − SSIM against the picture in image space;
- the invariance, `jaxinv.metrics.pairwise_spread`: the mean pairwise distance between the S
  reconstructions over the norm of the picture (0 = every start gives the same image).

It plots spread against each error and reports their Pearson correlations across layers.

    python examples/invariance_vs_error.py                     # 5 SqueezeNet layers, 2 seeds
    python examples/invariance_vs_error.py --network googlenet --seeds 3 --iterations-scale 1
"""

from __future__ import annotations

import _common as C  # noqa: I001

import jax
import numpy as np

from jaxinv.metrics import pairwise_spread, ssim

DEFAULT = {
    "squeezenet1_1": ["relu_conv1", "fire3/concat", "fire5/concat", "fire7/concat", "fire9/concat"],
    "googlenet": ["conv1/relu_7x7", "conv2/norm2", "inception_3b/output", "inception_4c/output",
                  "inception_5b/output"],
    "caffenet": ["relu1", "relu2", "relu3", "relu5", "relu6", "relu7"],
}


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def main(argv=None) -> None:
    p = C.parser("invariance_vs_error", __doc__.splitlines()[0], seeds=2, iterations_scale=0.25)
    p.add_argument("--layers", nargs="+", help="layers, shallow to deep")
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error("use --seeds 2 or more: the spread compares reconstructions")
    layers = args.layers or DEFAULT[args.network]
    out = C.Outputs(args.out, f"Invariance against reconstruction error across layers ({args.network})", args)
    picture = C.load_picture(args.picture)
    key = jax.random.key(args.seed)

    rows, spreads, errors, dssim, grid, titles = [], [], [], [], [], []
    for li, layer in enumerate(layers):
        rep, ref, res = C.invert_layer(out, args, picture, key, li, layer)
        spread = pairwise_spread(res.images, ref)
        err = float(np.mean(res.errors))
        d = float(np.mean([1 - ssim(im, ref) for im in res.images]))
        spreads.append(spread)
        errors.append(err)
        dssim.append(d)
        rows.append([layer, rep.stride, f"{rep.lambda_tv:g}", err, d, spread, f"{res.seconds:.0f}"])
        grid.append([ref / 255.0, *[C.display(rep, x) for x in res.inputs]])
        titles.append([f"{layer}", *[f"seed {s}: err {e:.3f}" for s, e in enumerate(res.errors)]])

    r_feature = pearson(errors, spreads)
    r_image = pearson(dssim, spreads)
    fig, axes = C.plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, xs, label, r in ((axes[0], errors, "feature error ‖Φ(x*)−Φ0‖²/‖Φ0‖²", r_feature),
                             (axes[1], dssim, "image error 1 − SSIM", r_image)):
        ax.scatter(xs, spreads, c=np.arange(len(layers)), cmap="viridis", s=50)
        for x, y, layer in zip(xs, spreads, layers):
            ax.annotate(layer, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("spread over seeds (pairwise_spread)")
        ax.set_title(f"Pearson r = {r_feature if ax is axes[0] else r_image:.2f} over {len(layers)} layers",
                     fontsize=9)
    fig.tight_layout()
    out.figure(fig, "spread_vs_error.png", "Spread of the reconstructions over seeds against the feature error "
                                           "(left) and against 1 − SSIM (right), one point per layer.")
    fig = C.image_grid(grid, row_labels=layers, titles=titles, size=2.0,
                       suptitle="Reconstructions from independent seeds, one row per layer")
    out.figure(fig, "reconstructions.png", "The reference and each seed's reconstruction (contrast-stretched), "
                                           "one row per layer.")

    out.text("## Numbers", "",
             f"{args.seeds} independent seeds per layer; schedule scaled by {args.iterations_scale}. Spread = "
             "mean pairwise distance between the seeds' reconstructions / ‖reference‖.")
    out.table(["layer", "stride", "λ_V", "feature error", "1 − SSIM", "spread", "s"], rows)
    out.text(f"Pearson correlation across layers: spread vs feature error r = {r_feature:.2f}; "
             f"spread vs 1 − SSIM r = {r_image:.2f} (n = {len(layers)} layers, so read the sign, not the digits).",
             "Reading: a positive r means that the layers whose reconstructions are further from the picture "
             "are also those whose reconstructions differ more from seed to seed — the code leaves more of the "
             "picture free. Here the spread "
             + ("tracks" if r_image > 0.5 else "does not clearly track") + " the image-space error (r = "
             f"{r_image:.2f}) and " + ("tracks" if r_feature > 0.5 else "does not clearly track")
             + f" the feature error (r = {r_feature:.2f}): the feature error measures how well the optimiser "
             "matched the code, not how much the code pins down, so it need not rise with invariance. λ_V also "
             "changes across layers (it follows the receptive-field size), which smooths the deeper "
             "reconstructions and lowers their spread; short schedules leave start noise that raises it.")
    out.finish(pearson_feature=r_feature, pearson_image=r_image, spreads=spreads, errors=errors, one_minus_ssim=dssim)


if __name__ == "__main__":
    C.run(main)
