"""What does the network think a class looks like? Inverting an artificial one-hot class code.

The paper's objective inverts any code, not only a real picture's. Here the code is a
one-hot vector at the last layer before the softmax (SqueezeNet ``pool10``, GoogLeNet
``loss3/classifier``, CaffeNet ``fc8``), with the same data term and regularisers as for a
real picture: ``invert_batch(rep, codes=..., image_shape=rep.input_shape, ...)``.

Scale matters. The data term is normalised by ‖Φ0‖², so the *direction* of the code is what
is matched, but its size fixes how far the network must be driven: a bare one-hot (norm 1)
asks for logits far smaller than any real picture's (‖Φ(picture)‖ is in the hundreds), which
the regularisers then dominate. The code is therefore ``‖Φ(picture)‖ · e_class``: the norm of
a real picture's code at that layer, all in the chosen class (``--scale`` multiplies it).

    python examples/artificial_codes.py                       # 3 classes x 2 seeds, SqueezeNet pool10
    python examples/artificial_codes.py --classes 130 285 967 948 --seeds 3 --iterations-scale 1
"""

from __future__ import annotations

import _common as C  # noqa: I001

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.inversion import invert_batch


def class_names(weights_dir) -> list[str]:
    path = C.pathlib.Path(weights_dir) / "synset_words.txt"
    if not path.is_file():
        return [f"class {i}" for i in range(1000)]
    return [line.split(" ", 1)[1].split(",")[0].strip() for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> None:
    p = C.parser("artificial_codes", __doc__.splitlines()[0], seeds=2, iterations_scale=0.25)
    p.add_argument("--classes", type=C.number(int, minimum=0, maximum=999), nargs="+", default=[130, 285, 967],
                   help="0-based ImageNet class indices (130 flamingo, 285 Egyptian cat, 967 espresso)")
    p.add_argument("--layer", help="the logit layer (default: the network's last before the softmax)")
    p.add_argument("--scale", type=C.positive(float, maximum=1e6), default=1.0, help="code norm as a multiple of ‖Φ(picture)‖")
    p.add_argument("--lambda-tv", type=C.number(float, minimum=0), default=50.0,
                   help="λ_V (paper units); 50 is the paper's value at CaffeNet's fc8")
    p.add_argument("--lr-scale", type=C.positive(float, maximum=1e3), default=1.0,
                   help="multiplies the schedule's learning rates")
    args = p.parse_args(argv)
    if not all(0 <= c < 1000 for c in args.classes):
        p.error(f"--classes {args.classes}: ImageNet classes are 0 to 999")
    layer = args.layer or C.LOGIT_LAYERS[args.network]
    names = class_names(args.weights_dir)
    out = C.Outputs(args.out, f"Inverting one-hot class codes ({args.network}:{layer})", args)

    rep = C.representation(args.network, layer, args.weights_dir)
    picture = C.load_picture(args.picture)
    real = np.asarray(rep(picture))
    norm = float(np.linalg.norm(real)) * args.scale
    codes = np.zeros((len(args.classes), real.size), np.float32)
    codes[np.arange(len(args.classes)), args.classes] = norm
    codes = codes.reshape(len(args.classes), *real.shape)
    sched = C.schedule(rep, args.iterations_scale).scaled(args.lr_scale)
    print(f"{rep.name}: {len(args.classes)} classes x {args.seeds} seeds, {sched.total} iterations, "
          f"code norm {norm:.1f}, λ_V {args.lambda_tv}", flush=True)
    res = C.invert_stable(out, layer, invert_batch, rep, codes=codes, image_shape=rep.input_shape,
                          key=jax.random.key(args.seed), seeds=args.seeds, schedule=sched, lambda_tv=args.lambda_tv)
    out.record(layer, res)

    # How the network classifies its own reconstructions: softmax of the reconstructed code.
    def probabilities(code):
        return np.asarray(jax.nn.softmax(jnp.asarray(code).reshape(-1)))

    real_p = probabilities(real)
    rows, grid, titles, labels, per_class = [], [], [], [], {}
    for i, c in enumerate(args.classes):
        row, row_titles, stats = [], [], []
        for s in range(args.seeds):
            prob = probabilities(res.codes[i, s])
            rank = int(np.sum(prob > prob[c])) + 1
            top = int(np.argmax(prob))
            stats.append({"error": float(res.errors[i, s]), "p_class": float(prob[c]), "rank": rank,
                          "top1": names[top], "diverged": bool(res.diverged[i, s])})
            row.append(C.display(rep, res.inputs[i, s]))
            row_titles.append(f"p={prob[c]:.2f} rank {rank}\ntop-1: {names[top][:18]}")
        per_class[names[c]] = stats
        grid.append(row)
        titles.append(row_titles)
        labels.append(f"{c} {names[c][:16]}")
        rows.append([c, names[c], float(np.mean([st["error"] for st in stats])),
                     float(np.mean([st["p_class"] for st in stats])), min(st["rank"] for st in stats),
                     ", ".join(sorted({st["top1"] for st in stats}))])
    fig = C.image_grid(grid, row_labels=labels, titles=titles, size=2.4,
                       suptitle=f"{rep.name}: one-hot codes of norm {norm:.0f}, λ_V {args.lambda_tv:g}")
    out.figure(fig, "class_reconstructions.png",
               "One row per class, one column per seed (contrast-stretched); titles give the probability the "
               "network assigns the class on its own reconstruction, its rank, and the top-1 class.")

    fig, ax = C.plt.subplots(figsize=(5, 3.2))
    for i, c in enumerate(args.classes):
        for s in range(args.seeds):
            ax.semilogy(res.energy[i, s, :, -1], color=f"C{i}", lw=1, label=names[c] if s == 0 else None)
    ax.set_xlabel("iteration")
    ax.set_ylabel("total energy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.figure(fig, "energy.png", "Total energy per iteration, one curve per class and seed.")

    out.text("## Numbers", "",
             f"Code = {norm:.1f} · e_class at `{layer}` ({real.size} values), where {norm / args.scale:.1f} = "
             f"‖Φ({args.picture})‖, the norm of a real picture's code at this layer (a bare one-hot, norm 1, would "
             f"be {norm:.0f}× too small to act like a real code against the regularisers). The picture's own top-1 "
             f"is {names[int(np.argmax(real_p))]} (p = {real_p.max():.2f}).",
             f"Objective: the paper's, λ_V = {args.lambda_tv:g}, λ_α = {rep.lambda_alpha:.4g}; "
             f"schedule {sched.total} iterations, learning rates ×{args.lr_scale:g}.")
    out.table(["class", "name", "feature error", "p(class) of reconstruction", "best rank", "top-1 of reconstructions"],
              rows)
    hits = sum(1 for r in rows if r[4] == 1)
    out.text(f"Reading: in {hits} of {len(rows)} classes the network's top-1 on its own reconstruction is the "
             "class asked for (mean p(class) "
             f"{np.mean([r[3] for r in rows]):.2f}). The code at this layer keeps no spatial layout, so look in "
             "the pictures for the class's textures and parts, repeated anywhere in the frame, rather than "
             "one object in one place.")
    out.finish(per_class=per_class, code_norm=norm)


if __name__ == "__main__":
    C.run(main)
