"""Terms of an objective, and the objective: a weighted sum of terms that adds and scales like numbers.

A term is a small frozen pytree whose call maps `TermInputs` to a scalar; its exponents and
constants are static fields, its arrays (a reference picture) are leaves. An `Objective` is
Σ_k w_k · term_k with the weights as pytree leaves, so under `jax.jit` a new weight (a sweep
over λ_V) reuses the compiled program and `jax.grad` with respect to a weight works::

    objective = NormalisedData() + 5.0 * TotalVariation(beta=2) + 2.157e8 * AlphaNorm(alpha=6)
    total, values = objective(inputs)          # values: each term's unweighted value

Terms are the paper's (Mahendran & Vedaldi, CVPR 2015, §2) and IJCV's (2016, §3); the
maths of each is in `jaxinv.core.norms`, which these wrap.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxinv.core.norms import alpha_norm, bounded_alpha_norm, data_term, ijcv_tv_norm, masked_sq_norm, tv_norm

__all__ = ["TermInputs", "Term", "Objective", "NormalisedData", "InnerProduct", "AlphaNorm", "TotalVariation",
           "BoundedAlphaNorm", "BoundedTotalVariation", "L2ToPicture"]


class TermInputs(NamedTuple):
    """What a term may read about one problem at the current iterate.

    Attributes:
      code: Φ(x) of the R images of the problem, (R, ...).
      target: the target code Φ0 (or a direction e for `InnerProduct`), (...).
      mask: 0/1 mask broadcastable to the code, or None.
      image: x, the R images in the representation's input space, (R, H, W, C).
      pixels: what the regularisers measure, in the parametrisation's units (the paper's
        u = x/σ; IJCV's x with its jitter margin), (R, H', W', C).
    """

    code: jax.Array
    target: jax.Array
    mask: jax.Array | None
    image: jax.Array
    pixels: jax.Array


class _Algebra:
    """+, −, × by a number: terms and objectives combine into an `Objective`."""

    def as_objective(self) -> "Objective":
        """This term or objective as an `Objective` (Σ_k w_k · term_k)."""
        raise NotImplementedError

    def __add__(self, other: Any) -> "Objective":
        if not isinstance(other, _Algebra):
            return NotImplemented
        a, b = self.as_objective(), other.as_objective()
        return Objective(a.terms + b.terms, a.weights + b.weights)

    def __radd__(self, other: Any) -> "Objective":
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts from 0
            return self.as_objective()
        return NotImplemented

    def __mul__(self, weight: Any) -> "Objective":
        if isinstance(weight, _Algebra):
            return NotImplemented
        a = self.as_objective()
        return Objective(a.terms, tuple(w * weight for w in a.weights))

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return self * -1.0

    def __sub__(self, other: Any) -> "Objective":
        if not isinstance(other, _Algebra):
            return NotImplemented
        return self + (-other)


class Term(struct.PyTreeNode, _Algebra):
    """Base of the terms: ``term(inputs) -> scalar``; ``name`` labels its value in the energy."""

    name: ClassVar[str] = "term"

    def __call__(self, inputs: TermInputs) -> jax.Array:
        raise NotImplementedError

    def as_objective(self) -> "Objective":
        """The one-term `Objective` 1 · this term."""
        return Objective((self,), (1.0,))


class Objective(struct.PyTreeNode, _Algebra):
    """Σ_k w_k · term_k; the weights are leaves (traced under jit), the terms' statics are not."""

    terms: tuple = ()
    weights: tuple = ()

    def as_objective(self) -> "Objective":
        """The objective itself."""
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """The terms' names, made unique with a suffix (``tv``, ``tv_1``, …)."""
        seen: dict[str, int] = {}
        names = []
        for term in self.terms:
            count = seen.get(term.name, 0)
            seen[term.name] = count + 1
            names.append(term.name if count == 0 else f"{term.name}_{count}")
        return tuple(names)

    def __call__(self, inputs: TermInputs) -> tuple[jax.Array, jax.Array]:
        """(Σ_k w_k v_k, [v_1, …, v_K]) with v_k the unweighted value of term k.

        The sum runs in the terms' order, so the paper's preset adds c·data + λ_V TV + λ_α N_α
        exactly as the authors' energy does.
        """
        values = [term(inputs) for term in self.terms]
        parts = [weight * value for weight, value in zip(self.weights, values)]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total, jnp.stack(values)


class NormalisedData(Term):
    """Σ_r ‖M ⊙ (Φ(x_r) − Φ0)‖² / (R ‖M ⊙ Φ0‖²): the paper's normalised data term (eq. 1)."""

    name: ClassVar[str] = "data"

    def __call__(self, inputs: TermInputs) -> jax.Array:
        copies = inputs.code.shape[0]
        normaliser = copies * masked_sq_norm(inputs.target, inputs.mask)
        return data_term(inputs.code, inputs.target[None], normaliser,
                         None if inputs.mask is None else inputs.mask[None])


class InnerProduct(Term):
    """(1/R) Σ_r ⟨M ⊙ Φ(x_r), e⟩ with e the target: weight it by −1 to raise it (IJCV §3.3)."""

    name: ClassVar[str] = "inner"

    def __call__(self, inputs: TermInputs) -> jax.Array:
        code = inputs.code if inputs.mask is None else inputs.code * inputs.mask[None]
        return jnp.sum(code * inputs.target[None]) / inputs.code.shape[0]


class AlphaNorm(Term):
    """Σ |u|^α over the pixels (the paper's α-norm, α = 6, on u = x/σ)."""

    name: ClassVar[str] = "alpha"
    alpha: float = struct.field(pytree_node=False, default=6.0)

    def __call__(self, inputs: TermInputs) -> jax.Array:
        return alpha_norm(inputs.pixels, alpha=self.alpha)


class TotalVariation(Term):
    """Σ_{c,i,j} (d_x² + d_y²)^(β/2) over the pixels (the paper's TV^β, β = 2)."""

    name: ClassVar[str] = "tv"
    beta: float = struct.field(pytree_node=False, default=2.0)

    def __call__(self, inputs: TermInputs) -> jax.Array:
        return tv_norm(inputs.pixels, beta=self.beta)


class BoundedAlphaNorm(Term):
    """(1/HW) Σ_p (‖x_p‖ / B)^α: IJCV's bounded-range α-norm on colour-vector norms."""

    name: ClassVar[str] = "alpha"
    bound: float = struct.field(pytree_node=False, default=80.0)
    alpha: float = struct.field(pytree_node=False, default=6.0)

    def __call__(self, inputs: TermInputs) -> jax.Array:
        return bounded_alpha_norm(inputs.pixels, bound=self.bound, alpha=self.alpha)


class BoundedTotalVariation(Term):
    """(1/HW) Σ_{c,p} ((d_x² + d_y²) / V²)^(β/2): IJCV's TV, V = B/6.5."""

    name: ClassVar[str] = "tv"
    scale: float = struct.field(pytree_node=False, default=80.0 / 6.5)
    beta: float = struct.field(pytree_node=False, default=2.0)

    def __call__(self, inputs: TermInputs) -> jax.Array:
        return ijcv_tv_norm(inputs.pixels, scale=self.scale, beta=self.beta)


class L2ToPicture(Term):
    """(1/N) Σ (x − x_ref)² over the N input-space values: stay close to a picture (a caricature's tether)."""

    name: ClassVar[str] = "l2"
    picture: jax.Array | None = None

    def __call__(self, inputs: TermInputs) -> jax.Array:
        diff = inputs.image - jnp.asarray(self.picture, inputs.image.dtype)[None]
        return jnp.mean(diff * diff)
