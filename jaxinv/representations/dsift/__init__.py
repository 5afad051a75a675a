"""Dense SIFT as a differentiable JAX graph, numerically VLFeat's ``vl_dsift``.

This reproduces ``vl_dsift_process`` of VLFeat 0.9.21 (``vl/dsift.c``, ``vl/mathop.h``) for
the standard 4×4×8 geometry, with both its flat ("fast") and Gaussian windows:

1. Gradient (``vl_dsift_process``): ``g_x = ½(I[y,x+1] − I[y,x−1])`` inside, one-sided
   ``I[y,1] − I[y,0]`` / ``I[y,W−1] − I[y,W−2]`` on the first/last column (same for ``g_y``).
2. Angle θ = ``vl_fast_atan2_f(g_y, g_x)``: with a = |g_y| + FLT_EPSILON,
   r = (g_x − a)/(g_x + a), θ = π/4 + (0.1821 r² − 0.9675) r for g_x ≥ 0, and
   r = (g_x + a)/(a − g_x), θ = 3π/4 + (0.1821 r² − 0.9675) r otherwise; θ ← −θ if g_y < 0.
   Magnitude m = ``vl_fast_sqrt_f(g_x² + g_y²)`` (0 below 1e-8).
3. Orientation split: n = (θ mod 2π)·T/2π, b = ⌊n⌋, ρ = n − b;
   channel b mod T gets (1 − ρ)·m and channel b + 1 mod T gets ρ·m (T = 8).
4. Spatial pooling, separable, with edge-replicated ("continuity") padding, sampled at the
   bin centres c = (x_min + i·step + b_x·bs, y_min + j·step + b_y·bs):
   - flat window (``fast=True``): the kernel (bs − |d|)/bs², then each bin is scaled by
     w_b = bs·mean_{|d|<bs} exp(−½((d − δ_b)/σ)²) per axis, δ_b = bs·(b − 3/2), σ = bs·window_size;
   - Gaussian window (``fast=False``): per-bin kernels (1 − |d|/bs)·exp(−½((d + δ_b)/σ)²)
     at pixel offset d from the bin centre (a Gaussian centred on the descriptor centre).
5. ``norm`` = Σ(descriptor)/(3bs+1)²; then L2 (``vl_fast_sqrt_f`` + FLT_EPSILON), clamp at 0.2,
   L2 again. Element order t + T·(b_x + 4·b_y); frames row by row (y outer, x inner).

Implementation: step 1-3 are per-pixel jnp maths; a hand-written VJP for them and matmuls
for the pooling (one banded matrix per axis with the edge replication folded in, or, for
dense sampling, block matmuls on the gcd(step, bs) lattice) keep the backward pass about as
cheap as the forward one on XLA:CPU, which otherwise fuses the shifted-slice adjoints with
their producers and recomputes them once per tap. Everything is float32, jit- and vmap-able.
The non-differentiable bit trick of ``vl_fast_sqrt_f`` gets the derivative of the exact
square root, zero below VLFeat's 1e-8 threshold, so gradients stay finite on flat, black and
saturated images; ``vl_fast_atan2_f`` is rational (denominators ≥ FLT_EPSILON) and is
differentiated as written, with ⌊n⌋ held fixed (the split is continuous across bins).

Differences from VLFeat: the pooling sums in a different order than VLFeat's float32 running
sums, so descriptors agree to ~1e-5 on frames with ``norm`` > 1e-2 (for [0, 1] images; ×255
for [0, 255]) and arbitrarily on near-flat frames, where VLFeat's output is rounding noise.
Only the 4×4×8 geometry and one step and bin size for both axes are offered. ``bounds`` is
(x_min, y_min, x_max, y_max) as in the C API (cyvlfeat takes [Y, X] order).

Paper (CVPR 2015, ``dsift_net(5)``, METHOD.md §3.2) vs `paper_dsift`:

- Window: dsift_net weights each *cell* by exp(−((i−2.5)² + (j−2.5)²)/(2·1.5²)) (σ = 1.5 cells;
  1-D factors 0.946 inner, 0.607 outer, ratio 0.6412). VLFeat's flat window does the same kind
  of thing, one Gaussian factor per bin and axis, but takes the *mean* of the Gaussian over the
  bin's (2bs−1)-pixel support: with ``window_size=1.5`` the ratio would be 0.674. `paper_dsift`
  uses ``fast=True, window_size=PAPER_WINDOW_SIZE`` (1.40173), where the ratio is 0.6412, so
  VLFeat's per-bin weights are proportional to dsift_net's and, after the L2 normalisation,
  the windows agree exactly. VLFeat's Gaussian window (``fast=False``) instead weights every
  pixel, which dsift_net never does.
- Renormalisation: dsift_net stops after the 0.2 clamp; VLFeat (and jaxinv by default)
  L2-normalises again. ``renormalize=False`` gives the dsift_net behaviour.
- Normalisation ε: dsift_net uses 1/√(1e-6 + Σx²), VLFeat 1/(√Σx² + FLT_EPSILON).
- Borders and grid: dsift_net convolves without padding (the gradient image loses one pixel
  per side; cells come from a 2b×2b triangular kernel of even length, stride b, so cell centres
  sit between pixels), while VLFeat uses one-sided differences at the border, a (2b−1)-tap
  triangular kernel centred on pixels, edge-replicated padding, and descriptors whose upper-left
  bin centre starts at pixel (0, 0); the descriptor grids are therefore offset from each other.
- Angle: dsift_net interpolates with the exact angle (acos of the normalised directional
  derivatives); VLFeat with ``vl_fast_atan2_f`` (error ≤ 6e-3 rad).
- Input: both use 255·rgb2gray − 128 at full resolution (METHOD.md §1.4).

Modules, one a stage: `fastmath` (VLFeat's fast atan2 and sqrt), `geometry` (the 4×4×8
layout, options and the frame grid), `orientation` (steps 1–3), `pooling` (step 4),
`descriptor` (step 5, the `Representation`, the functional API and `paper_dsift`); the
shared gray input space and checks are in `jaxinv.representations.shallow`.
"""

from __future__ import annotations

from jaxinv.representations.dsift.descriptor import (
    PAPER_WINDOW_SIZE,
    DsiftFeatures,
    dsift,
    dsift_descriptors,
    dsift_norms,
    paper_dsift,
)
from jaxinv.representations.dsift.fastmath import FLT_EPSILON, fast_atan2, fast_sqrt
from jaxinv.representations.dsift.geometry import (
    DESCRIPTOR_SIZE,
    NUM_BINS,
    NUM_ORIENTATIONS,
    dsift_frames,
)

from jaxinv.representations.shallow import gray_deprocess, gray_preprocess

__all__ = [
    "PAPER_WINDOW_SIZE",
    "DsiftFeatures",
    "dsift",
    "dsift_descriptors",
    "dsift_frames",
    "dsift_norms",
    "gray_preprocess",
    "gray_deprocess",
    "paper_dsift",
]
