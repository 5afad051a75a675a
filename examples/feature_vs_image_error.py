"""Feature error against image error: does a small ‖Φ(x*)−Φ0‖²/‖Φ0‖² mean a faithful picture?

For each layer it inverts the code of one picture and puts the paper's normalised feature
error (what the optimiser minimises) next to two image-space measures of the same
reconstruction, PSNR and SSIM against the picture as the network sees it. As a control, it
also measures simple edits of the picture itself (a shift by 8 pixels, a blur, noise) in
both spaces: a deep layer gives a shifted picture a small feature error and a poor PSNR,
which is the invariance that lets the reconstructions look different while matching the code.

    python examples/feature_vs_image_error.py                     # 4 SqueezeNet layers, a few minutes
    python examples/feature_vs_image_error.py --layers conv1 fire3/concat fire5/concat fire7/concat fire9/concat
"""

from __future__ import annotations

import _common as C  # noqa: I001

import jax
import jax.numpy as jnp
import numpy as np
from skimage.filters import gaussian

from jaxinv.metrics import normalized_error, psnr, ssim

DEFAULT = {
    "squeezenet1_1": ["relu_conv1", "fire3/concat", "fire5/concat", "fire9/concat"],
    "googlenet": ["conv1/relu_7x7", "conv2/norm2", "inception_3b/output", "inception_4e/output"],
    "caffenet": ["relu1", "relu3", "relu5", "relu7"],
}


def edits(ref: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Edited copies of the reference picture ([0, 255]) for the control measurements."""
    return {
        "shift 8 px": np.roll(ref, (8, 8), axis=(0, 1)),
        "blur σ=2": gaussian(ref, sigma=2, channel_axis=-1, preserve_range=True),
        "noise σ=20": np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255),
    }


def main(argv=None) -> None:
    p = C.parser("feature_vs_image_error", __doc__.splitlines()[0], seeds=1, iterations_scale=0.25)
    p.add_argument("--layers", nargs="+", help="layers, shallow to deep")
    args = p.parse_args(argv)
    layers = args.layers or DEFAULT[args.network]
    out = C.Outputs(args.out, f"Feature error vs image error ({args.network})", args)
    picture = C.load_picture(args.picture)
    key = jax.random.key(args.seed)
    rng = np.random.default_rng(args.seed)

    rows, points, recon_row, titles, per_layer = [], [], [], [], {}
    for li, layer in enumerate(layers):
        rep, ref, res = C.invert_layer(out, args, picture, key, li, layer)
        target = np.asarray(res.targets)
        ps = [psnr(im, ref) for im in res.images]
        ss = [ssim(im, ref) for im in res.images]
        errs = [float(e) for e in res.errors]
        code = jax.jit(rep.features)
        controls = {}
        for name, edited in edits(ref, rng).items():
            x = jnp.asarray(rep.preprocess(edited.astype(np.float32)))
            controls[name] = (normalized_error(code(rep.params, x), target), psnr(edited, ref), ssim(edited, ref))
        per_layer[layer] = {"errors": errs, "psnr": ps, "ssim": ss, "controls": controls,
                            "lambda_tv": rep.lambda_tv}
        rows.append([layer, f"{rep.lambda_tv:g}", float(np.mean(errs)), float(np.mean(ps)), float(np.mean(ss)),
                     *[f"{c[0]:.3f} / {c[1]:.1f}" for c in controls.values()]])
        for e, q, s in zip(errs, ps, ss):
            points.append((li, e, q, s))
        if li == 0:
            recon_row.append(ref / 255.0)
            titles.append("reference")
        recon_row.append(C.display(rep, res.inputs[0]))
        titles.append(f"{layer}\nerr {errs[0]:.3f}, {ps[0]:.1f} dB, SSIM {ss[0]:.2f}")

    fig = C.image_grid([recon_row], titles=[titles], size=2.4,
                       suptitle="Reconstructions, shallow to deep: feature error, PSNR and SSIM of each")
    out.figure(fig, "reconstructions.png", "The reference and one reconstruction per layer (contrast-stretched), "
                                            "with its normalised feature error, PSNR and SSIM.")

    control_names = list(next(iter(per_layer.values()))["controls"])
    fig, axes = C.plt.subplots(1, 2, figsize=(10, 3.8))
    for panel, (ax, idx, label) in enumerate(zip(axes, (2, 3), ("PSNR (dB)", "SSIM"))):
        for li, layer in enumerate(layers):
            pts = [pt for pt in points if pt[0] == li]
            ax.scatter([pt[1] for pt in pts], [pt[idx] for pt in pts], color=f"C{li}", s=40,
                       label=f"{layer} (reconstruction)")
            for ci, name in enumerate(control_names):
                e, q, s = per_layer[layer]["controls"][name]
                ax.scatter(e, q if idx == 2 else s, color=f"C{li}", marker="xv+"[ci], s=40,
                           label=name if li == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel("normalised feature error ‖Φ(x)−Φ0‖²/‖Φ0‖²")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=6, loc="best")
    fig.suptitle("Feature error against image error (markers: reconstructions ●, edited pictures × ▽ +)", fontsize=9)
    fig.tight_layout()
    out.figure(fig, "feature_vs_image_error.png",
               "Each layer's reconstructions (dots) and edited copies of the picture (other markers), feature "
               "error against PSNR and SSIM; colour = layer.")

    all_e = np.array([pt[1] for pt in points])
    all_p = np.array([pt[2] for pt in points])
    r_p = float(np.corrcoef(np.log(all_e), all_p)[0, 1]) if len(points) > 2 else float("nan")
    out.text("## Numbers", "",
             "Feature error = ‖Φ(x*)−Φ0‖²/‖Φ0‖² (the optimiser's `errors`); PSNR/SSIM against the picture warped "
             "to the network's input. Controls: feature error / PSNR of an edited copy of the picture itself.")
    out.table(["layer", "λ_V", "feature error", "PSNR dB", "SSIM", *[f"{n} (err / dB)" for n in control_names]], rows)
    notes = []
    for layer in layers:
        d = per_layer[layer]
        e, q = float(np.mean(d["errors"])), float(np.mean(d["psnr"]))
        beaten = [(n, c) for n, c in d["controls"].items() if c[0] > e and c[1] > q]
        if beaten:
            notes.append(f"at {layer} the reconstruction's feature error {e:.3f} is below that of the picture itself "
                         + " and ".join(f"with {n} ({c[0]:.3f}, {c[1]:.1f} dB)" for n, c in beaten)
                         + f", yet its PSNR is only {q:.1f} dB")
    spread = {n: [per_layer[layer]["controls"][n][0] for layer in layers] for n in control_names}
    out.text(f"Pearson correlation of log feature error and PSNR over the reconstructions: r = {r_p:.2f}.",
             "Reading: "
             + ("; ".join(notes) + ". " if notes else "")
             + "The edits show that the two kinds of error rank changes differently: "
             + "; ".join(f"{n} ({per_layer[layers[0]]['controls'][n][1]:.1f} dB) costs "
                         + " → ".join(f"{v:.3f}" for v in spread[n]) + " in feature error from "
                         f"{layers[0]} to {layers[-1]}" for n in control_names)
             + ". A code that ignores a change (a small feature error) lets the optimiser return pictures that "
             "differ by exactly that change, which PSNR and SSIM count in full.")
    out.finish(per_layer=per_layer, pearson_logerror_psnr=r_p)


if __name__ == "__main__":
    C.run(main)
