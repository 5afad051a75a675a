"""VLFeat's HOG (``vl_hog``) as a differentiable JAX graph.

``hog(...)`` returns a `Representation` whose features are VLFeat 0.9.21's
``vl_hog_put_image`` + ``vl_hog_extract`` (vl/hog.c) on exactly the float32 values
given (no rescaling), to float32 rounding (≲1e-6; tests use atol 1e-5 against the
real library through cyvlfeat). For an (H, W, C) image, cell size s and n
orientations:

1. Gradient at interior pixels only (1 ≤ y ≤ H−2, 1 ≤ x ≤ W−2), plain central
   differences without ½: gx = I[y, x+1] − I[y, x−1], gy = I[y+1, x] − I[y−1, x].
   With C > 1 channels, the channel of largest gx² + gy² is used, the first on ties.
2. Orientation: score_k = gx·cos(kπ/n) + gy·sin(kπ/n), in float32 with
   cos, sin rounded from double and each product rounded (no FMA). Hard binning
   puts ‖g‖ into directed bin k0 (+n when score_k0 < 0) with k0 = argmax_k |score_k|,
   the *first* k on ties (not atan2 + rounding: on 8-bit images exact ties are
   common). With bilinear orientations (HOGb), the second best k1 (first index on
   ties) shares ‖g‖: w1 = acos(min(|score_k0|/max(‖g‖, 1e-10), 1))/(π/n) goes to
   bin(k1) and w0 = 1 − w1 to bin(k0). (This is VLFeat 0.9.21 as shipped by Debian
   and checked here; VLFeat's later git master normalises g before scoring, which
   moves a few near-ties.)
3. Spatial voting: pixel x goes to the cells ⌊hx⌋ and ⌊hx⌋+1 with weights
   1 − frac(hx), frac(hx), hx = (x + 0.5)/s − 0.5 (same in y); votes for cells
   outside the grid are dropped. The grid has (W + ⌊s/2⌋) // s columns (rounds).
4. Block normalisation: e = Σ_k (h_k + h_{k+n})² per cell; the four 2×2 blocks
   around a cell (neighbours clamped to the grid) give f_q = 1/sqrt(Σ_block e + 1e-4).
5. UoCTTI (3n + 4 dims): [0.5 Σ_q min(0.2, f_q h_k)]_{k<2n},
   [0.5 Σ_q min(0.2, f_q (h_k + h_{k+n}))]_{k<n},
   [Σ_k min(0.2, f_q (h_k + h_{k+n})) / sqrt(18)]_{q<4}.
   Dalal-Triggs (4n dims): [min(0.2, f_q (h_k + h_{k+n}))]_{q<4, k<n}, block-major,
   no re-normalisation after clamping. Blocks q are upper-left, upper-right,
   lower-left, lower-right.

The graph uses only slicing, elementwise ops and small reductions (no gather, no
scatter, no convolution): bilinear spatial pooling is separable, and after padding
each axis so that the pixels voting into cells (b, b+1) form one group of s
consecutive pixels, it is an unrolled weighted sum over the group, once per axis.
On a 500×375 gray image (2 CPU cores) the forward pass takes a few ms; see
benchmarks/hog_dsift_forward.py.

Gradients (reverse mode; the orientation votes and the pooling have hand-written
VJPs, so forward-mode ``jax.jvp`` is not supported) are finite everywhere: flat,
black, saturated images, one-cell images, exact ties. Hard HOG differentiates
through the gradient magnitude only, the bin choice being piecewise constant (as
the authors' ``hog_net``); HOGb differentiates through magnitude and angle. The
HOGb angle's value is acos of the clamped cosine (a vectorised polynomial within
1e-7 rad of glibc's ``acosf``); its derivative is that of the equivalent
atan2(|g×d|, |g·d|), which stays finite where acos' does not (angle 0). The
magnitude's derivative at g = 0 is taken as 0.

Exactness needs one trick: XLA's CPU backend contracts ``a*b + c*d`` into fused
multiply-adds, which moves near-ties in the channel and orientation argmaxes; the
products are passed through an identity select that LLVM cannot contract.

Presets `paper_hog` and `paper_hogb` are the CVPR 2015 paper's HOG and HOGb
(METHOD.md §1.4, §3.1): 1-channel input 255·rgb2gray(picture/255) − 128 at full
resolution, UoCTTI, cell 8, 27-D layout (the 4 texture dims dropped).

**Where this differs from the paper's ``hog_net`` (deep-goggle).** jaxinv is exact to
VLFeat by design, and the paper's MatConvNet network only approximates VLFeat:

- grid: VLFeat has (W + 4)//8 cells (rounds); hog_net has ⌊W/8⌋ (pad-4, stride-8
  pooling), so e.g. a 500×375 image gives 63×47 here and 62×46 there;
- border gradients: VLFeat leaves the outer pixel ring out; hog_net zero-pads its
  3×3 filters and so sees spurious gradients at the image border; hog_net also
  halves the central differences (irrelevant after normalisation but for the eps);
- normalisation: VLFeat divides by sqrt(Σ + 1e-4); hog_net by max(sqrt(Σ), 1e-6);
- border cells: VLFeat normalises border cells with clamped (repeated) neighbour
  blocks, so each cell sums 4 block contributions; hog_net zero-pads and border
  cells get fewer than 4;
- DPM's HOG (features.cc) also drops border cells and adds a truncation dim;
  neither VLFeat nor jaxinv does;
- hog_net's HOGb weights use acos of the signed per-direction score over all 2n
  directions; VLFeat takes the best two undirected scores, which is the same
  linear interpolation between the two nearest directions.

Reference: A. Vedaldi, B. Fulkerson, VLFeat (2008–), vl/hog.c; Mahendran & Vedaldi,
"Understanding Deep Image Representations by Inverting Them", CVPR 2015.

Modules, one a stage: `gradients` (step 1), `orientation` (step 2), `pooling` (step 3 and
the cell grid), `blocks` (steps 4–5), `descriptor` (the `Representation`, `hog` and the
paper's presets); the shared gray input space and checks are in
`jaxinv.representations.shallow`.
"""

from __future__ import annotations

from jaxinv.representations.hog.blocks import normalise_cells
from jaxinv.representations.hog.descriptor import HogFeatures, hog, paper_hog, paper_hogb, rgb2gray
from jaxinv.representations.hog.gradients import image_gradients
from jaxinv.representations.hog.orientation import orientation_votes
from jaxinv.representations.hog.pooling import hog_cells, hog_grid  # noqa: F401

__all__ = [
    "HogFeatures",
    "hog",
    "hog_cells",
    "hog_grid",
    "image_gradients",
    "normalise_cells",
    "orientation_votes",
    "paper_hog",
    "paper_hogb",
    "rgb2gray",
]
