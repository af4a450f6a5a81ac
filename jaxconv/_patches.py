"""unfold (im2col) and its adjoint fold (col2im), for any number of spatial axes, from lax slices
and pads.

Layout: images are channels-last ``(N, *spatial, C)``; a patch vector is ordered
(kernel tap in row-major order over the kernel's axes, then channel c), the order
of ``kernel.reshape(-1, C_out)`` for a ``(*k, C_in, C_out)`` kernel, so a
convolution is ``unfold(x) @ kernel.reshape(-1, C_out)`` with no transpose.

unfold is three linear maps, and fold is their adjoints in reverse order. Per
spatial axis (sizes as in ``_shapes``: S input, r input dilation, (lo, hi)
padding, d dilation, s stride, O output)::

    unfold                                     fold (the adjoint)
    1. zero insertion + padding: S -> P        3. crop what came from the padding, then keep
       one lax.pad, interior r - 1,               every r-th entry (a strided slice): P -> S
       low lo, high hi
    2. tap t: the strided view P -> O          2. place tap t back: O -> P, one lax.pad,
       rows t·d, t·d + s, ..., t·d + s·(O-1)      interior s - 1, low t·d (its first row)
    3. stack the taps: T views -> (O, T, C)    1. split the taps and sum the placed ones

fold places each tap straight into the input frame (low ``t·d - lo``, negative
for taps that start in the padding: the pad then crops), so steps 3 and 2 are
one pad per tap, and XLA fuses the T pads and adds into one loop. With a
stride s > 1 those pads are mostly zeros (s - 1 interior zeros per entry) and
every output row would add all T of them, so fold then works per output phase
(``_phase_fold``): each of the s^d phases sums only its own ≈ T / s^d taps,
placed without interior zeros, and the phases interleave in one reshape.

Why slices and not ``lax.conv_general_dilated_patches``: stacking strided slices
runs at the speed of a plain copy of the patch tensor, while the patches
primitive (a convolution with a one-hot kernel) was several times slower on the
MNIST layer shapes (docs/performance.md, "Choosing the implementation").
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._shapes import (
    ConvGeometry,
    IntOrPair,
    Padding,
    ceil_div,
    check_channels_last,
    conv_geometry,
)


def tap_offsets(geometry: ConvGeometry) -> list[tuple[int, ...]]:
    """The kernel taps, row-major over the kernel's axes (the order of
    ``kernel.reshape(T, ...)``)."""
    return list(itertools.product(*(range(k) for k in geometry.kernel_size)))


def pad_input(x: jax.Array, geometry: ConvGeometry) -> jax.Array:
    """Step 1: zero insertion (input dilation) and padding, one lax.pad:
    ``(N, *S, C) -> (N, *P, C)``."""
    config = [
        (0, 0, 0),
        *((lo, hi, r - 1) for (lo, hi), r in zip(geometry.padding, geometry.input_dilation)),
        (0, 0, 0),
    ]
    return lax.pad(x, jnp.zeros((), x.dtype), config)


def tap_views(x_padded: jax.Array, geometry: ConvGeometry) -> list[jax.Array]:
    """Step 2: the T strided views of the padded input, one per kernel tap, each ``(N, *O, C)``."""
    n, c = x_padded.shape[0], x_padded.shape[-1]
    views = []
    for tap in tap_offsets(geometry):
        # tap t sees rows t·d, t·d + s, ..., t·d + s·(O - 1) along each axis
        first = [t * d for t, d in zip(tap, geometry.dilation)]
        last = [f + s * (o - 1) for f, s, o in zip(first, geometry.stride, geometry.output_size)]
        views.append(
            lax.slice(
                x_padded, (0, *first, 0), (n, *(v + 1 for v in last), c), (1, *geometry.stride, 1)
            )
        )
    return views


def place_tap(tap_values: jax.Array, tap: tuple[int, ...], geometry: ConvGeometry) -> jax.Array:
    """The adjoint of one tap's view and of the padding: ``(N, *O, C) -> (N, *S_r, C)``.

    Entry o of the tap lands on row ``t·d - lo + o·s`` of the zero-inserted input
    (length ``S_r = (S - 1)·r + 1``), zeros elsewhere: one ``lax.pad`` with interior
    padding ``s - 1``, low padding ``t·d - lo`` (negative: crops the entries that
    came from the padding) and the high padding that makes the length ``S_r``.
    """
    config = [(0, 0, 0)]
    for t, d, (lo, _), s, o, size, r in zip(
        tap,
        geometry.dilation,
        geometry.padding,
        geometry.stride,
        geometry.output_size,
        geometry.input_size,
        geometry.input_dilation,
    ):
        dilated_size = (size - 1) * r + 1
        low = t * d - lo
        config.append((low, dilated_size - low - s * (o - 1) - 1, s - 1))
    config.append((0, 0, 0))
    return lax.pad(tap_values, jnp.zeros((), tap_values.dtype), config)  # (N, *S_r, C)


def _phase_fold(taps: list[jax.Array], geometry: ConvGeometry) -> jax.Array:
    """fold for stride > 1 by output phase (sub-pixel): ``T × (N, *O, C) -> (N, *S_r, C)``.

    Along an axis with stride s, write a row of the zero-inserted frame as
    ``i = q·s + p`` with phase ``p = i mod s``. Tap t's entry o lands on row
    ``t·d - lo + o·s``, so all of it lands in one phase, ``p_t = (t·d - lo) mod s``,
    on the consecutive rows ``q = q_t + o`` with ``q_t = floor((t·d - lo) / s)``.
    Each phase image (length ``L = ceil(S_r / s)``) is then the sum of its own
    taps, each placed by a plain pad (low ``q_t``, no interior zeros), and the
    s phase images interleave into the frame: one stack and reshape
    ``(N, L, s, C) -> (N, L·s, C)``, cropped to ``S_r``. place_tap's pads hold
    ``s - 1`` zeros for every entry, which the sum then adds; here no zeros are
    summed and each output row is the sum of only the ``≈ k/s`` taps of its phase.
    """
    n, c = taps[0].shape[0], taps[0].shape[-1]
    dilated = [
        (size - 1) * r + 1 for size, r in zip(geometry.input_size, geometry.input_dilation)
    ]  # S_r per axis
    lengths = [ceil_div(size, s) for size, s in zip(dilated, geometry.stride)]  # L per axis
    phase_sums: dict[tuple[int, ...], jax.Array] = {}
    for values, tap in zip(taps, tap_offsets(geometry)):
        starts = [
            t * d - lo for t, d, (lo, _) in zip(tap, geometry.dilation, geometry.padding)
        ]  # row of entry o = 0
        phase = tuple(start % s for start, s in zip(starts, geometry.stride))
        config = [(0, 0, 0)]
        for start, s, o, length in zip(starts, geometry.stride, geometry.output_size, lengths):
            low = (
                start // s
            )  # q_t; negative: the entries that came from the low padding are cropped
            config.append((low, length - low - o, 0))
        config.append((0, 0, 0))
        placed = lax.pad(values, jnp.zeros((), values.dtype), config)  # (N, *L, C)
        phase_sums[phase] = phase_sums[phase] + placed if phase in phase_sums else placed
    zeros = jnp.zeros((n, *lengths, c), taps[0].dtype)
    phases = [
        phase_sums.get(phase, zeros)
        for phase in itertools.product(*(range(s) for s in geometry.stride))
    ]
    # stack the phases with each phase axis right after its row axis:
    # (N, L_1, s_1, ..., L_d, s_d, C)
    rank = geometry.rank
    interleaved = jnp.stack(phases, axis=-2).reshape(
        n, *lengths, *geometry.stride, c
    )  # (N, *L, *s, C)
    order = [0, *(ax for a in range(rank) for ax in (1 + a, 1 + rank + a)), 1 + 2 * rank]
    frame = interleaved.transpose(order).reshape(
        n, *(length * s for length, s in zip(lengths, geometry.stride)), c
    )  # (N, *(L·s), C)
    return lax.slice(frame, (0,) * frame.ndim, (n, *dilated, c))  # (N, *S_r, C)


def fold_taps(taps: list[jax.Array], geometry: ConvGeometry) -> jax.Array:
    """Steps 2 and 3 of fold: every tap placed back and summed, then every r-th row kept.

    ``T × (N, *O, C) -> (N, *S, C)``.
    """
    if any(s > 1 for s in geometry.stride):
        total = _phase_fold(taps, geometry)  # (N, *S_r, C)
    else:
        placed = [
            place_tap(values, tap, geometry) for values, tap in zip(taps, tap_offsets(geometry))
        ]
        total = sum(placed[1:], placed[0])  # (N, *S_r, C)
    if any(r > 1 for r in geometry.input_dilation):
        # the adjoint of zero insertion: the inserted zeros' gradients are dropped
        n, c = total.shape[0], total.shape[-1]
        total = lax.slice(
            total, (0,) * total.ndim, (n, *total.shape[1:-1], c), (1, *geometry.input_dilation, 1)
        )
    return total  # (N, *S, C)


def unfold_taps(x: jax.Array, geometry: ConvGeometry) -> jax.Array:
    """Steps 1-3 of unfold with the taps on their own axis: ``(N, *S, C) -> (N, *O, T, C)``."""
    return jnp.stack(tap_views(pad_input(x, geometry), geometry), axis=-2)  # (N, *O, T, C)


def unfold(
    x: jax.Array,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
) -> jax.Array:
    """All convolution patches of ``x``, flattened (Q3's unfold, channels-last, any rank).

    **Arguments:**
      x: shape ``(N, *spatial, C)``, with one or more spatial axes.
      kernel_size, stride, dilation: an int or one per spatial axis.
      padding: an int, one int or one ``(low, high)`` pair per spatial axis, or
        ``'SAME'``/``'SAME_LOWER'``/``'VALID'``.

    **Returns:** patches of shape ``(N, *spatial_out, T·C)``, ``T = prod(kernel_size)``.
    In 2-D, entry ``[n, y, x, (i·kw + j)·C + c]`` is ``x_padded[n, y·sh + i·dh, x·sw + j·dw, c]``.
    """
    check_channels_last("x", x.shape)
    geometry = conv_geometry(x.shape[1:-1], kernel_size, stride, padding, dilation)
    n, c = x.shape[0], x.shape[-1]
    patches = unfold_taps(x, geometry)  # (N, *O, T, C)
    return patches.reshape(n, *geometry.output_size, geometry.num_taps * c)  # (N, *O, T·C)


def fold(
    patches: jax.Array,
    input_shape,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
) -> jax.Array:
    """The adjoint of :func:`unfold`: every patch entry added back where it came from.

    Overlapping patches are summed and entries that came from the zero padding
    are dropped, so that ``<unfold(x), p> = <x, fold(p)>`` for all ``x, p``. It is
    not unfold's inverse: ``fold(unfold(x))`` is x times how many patches cover
    each pixel.

    **Arguments:**
      patches: shape ``(N, *spatial_out, T·C)``, as :func:`unfold` returns.
      input_shape: ``(N, *spatial, C)`` of the input the patches belong to.
      kernel_size, stride, padding, dilation: as given to :func:`unfold`.

    **Returns:** an array of shape ``input_shape``.
    """
    check_channels_last("input_shape", input_shape)
    input_shape = tuple(int(d) for d in input_shape)
    geometry = conv_geometry(input_shape[1:-1], kernel_size, stride, padding, dilation)
    n, c = input_shape[0], input_shape[-1]
    expected = (n, *geometry.output_size, geometry.num_taps * c)
    if tuple(patches.shape) != expected:
        raise ValueError(
            f"patches must have shape (N, *spatial_out, prod(kernel)*C) = {expected} for "
            f"input_shape {input_shape}, "
            f"kernel {geometry.kernel_size}, stride {geometry.stride}, padding {geometry.padding}, "
            f"dilation {geometry.dilation}; got {tuple(patches.shape)}"
        )
    taps = patches.reshape(n, *geometry.output_size, geometry.num_taps, c)  # (N, *O, T, C)
    return fold_taps([taps[..., t, :] for t in range(geometry.num_taps)], geometry)  # (N, *S, C)
