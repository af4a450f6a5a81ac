"""jaxconv.swap_convolutions: swapped layers against stock ones (outputs, both gradients, the
parameters by identity), checkpoints and optimizer states across the swap, the refusals.

The stock layers' gradients come from forward mode (jax.jacfwd of a scalar loss: one jvp per
entry), never from reverse mode through a lax convolution."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

import jaxconv
from jaxconv._swap import JaxconvConvTranspose

CONV = nnx.Conv
TRANSPOSE = nnx.ConvTranspose

# (layer class, in, out, kernel_size, keyword arguments, input shape)
LAYER_CONFIGS = [
    (CONV, 3, 4, (3, 3), {}, (2, 6, 5, 3)),
    (CONV, 3, 4, (3, 3), {"padding": "VALID", "strides": 2}, (2, 7, 6, 3)),
    (CONV, 3, 4, (3, 2), {"padding": "CIRCULAR", "strides": (2, 1)}, (2, 6, 5, 3)),
    (CONV, 3, 4, (3, 3), {"padding": "REFLECT", "kernel_dilation": 2}, (2, 7, 6, 3)),
    (CONV, 3, 4, (3,), {"padding": "CAUSAL", "kernel_dilation": 2}, (2, 9, 3)),
    (CONV, 3, 4, (4, 3), {"padding": 1, "strides": 2}, (2, 7, 6, 3)),
    (CONV, 3, 4, (3, 3), {"padding": [(2, 0), (0, 1)], "use_bias": False}, (2, 6, 5, 3)),
    (CONV, 4, 6, (3, 3), {"feature_group_count": 2, "padding": "SAME"}, (2, 6, 5, 4)),
    (CONV, 4, 8, (3, 3), {"feature_group_count": 4, "strides": 2}, (2, 6, 5, 4)),
    (CONV, 3, 4, (3, 3), {"input_dilation": 2, "padding": [(1, 2), (2, 1)]}, (2, 4, 3, 3)),
    (CONV, 3, 4, (2, 2), {"mask": "tril"}, (2, 5, 5, 3)),
    (CONV, 2, 3, (2, 3, 2), {"strides": (1, 2, 1), "kernel_dilation": (2, 1, 1)}, (1, 5, 6, 4, 2)),
    (CONV, 3, 4, (3, 3), {}, (2, 3, 5, 4, 3)),  # two batch axes
    (TRANSPOSE, 3, 4, (3, 3), {"strides": 2}, (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (4, 4), {"strides": 2, "transpose_kernel": True}, (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (3, 2), {"strides": (2, 3), "padding": "VALID"}, (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (3, 3), {"strides": 2, "padding": "CIRCULAR"}, (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (4, 4), {"strides": 2, "padding": "CIRCULAR", "transpose_kernel": True},
     (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (3, 3), {"strides": 2, "padding": [(1, 2), (0, 1)], "kernel_dilation": 2},
     (2, 4, 3, 3)),
    (TRANSPOSE, 3, 4, (3, 3), {"strides": 2, "padding": 2, "mask": "tril", "use_bias": False},
     (2, 4, 3, 3)),
    (TRANSPOSE, 3, 2, (3,), {"strides": 3, "padding": "SAME", "transpose_kernel": True}, (2, 5, 3)),
    (TRANSPOSE, 2, 3, (2, 2, 2), {"strides": 2}, (1, 3, 2, 3, 2)),
    (TRANSPOSE, 3, 4, (3, 3), {"strides": 1}, (2, 3, 4, 3, 3)),  # two batch axes
]  # fmt: skip


def _layer(config, seed=0):
    cls, c_in, c_out, kernel_size, kwargs, _ = config
    kwargs = dict(kwargs)
    if kwargs.get("mask") == "tril":
        swap_io = cls is TRANSPOSE and kwargs.get("transpose_kernel")
        shape = (*kernel_size, *((c_out, c_in) if swap_io else (c_in, c_out)))
        kwargs["mask"] = jnp.tril(jnp.ones(shape))
    return cls(c_in, c_out, kernel_size, rngs=nnx.Rngs(seed), **kwargs)


def _loss_and_grads(layer, x, g, reverse: bool):
    """``sum(layer(x) * g)`` and its gradients in the parameters and in x."""
    graphdef, params = nnx.split(layer)

    def loss(params, x):
        return jnp.vdot(nnx.merge(graphdef, params)(x), g)

    grad = jax.grad if reverse else jax.jacfwd  # jacfwd of a scalar: the gradient, by jvps
    return jax.jit(lambda p, x: (loss(p, x), grad(loss, argnums=(0, 1))(p, x)))(params, x)


def _assert_trees_close(a, b, tol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
def test_a_swapped_layer_equals_the_stock_layer(config):
    layer = _layer(config)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=config[-1]), jnp.float32)
    stock_y = layer(x)
    g = jnp.asarray(rng.normal(size=stock_y.shape), jnp.float32)
    stock_loss, stock_grads = _loss_and_grads(layer, x, g, reverse=False)
    params_before = nnx.state(layer, nnx.Param)
    graphdef_before = nnx.graphdef(layer)

    assert jaxconv.swap_convolutions(layer) is layer
    assert nnx.graphdef(layer) != graphdef_before  # jaxconv now, so nnx.jit traces again
    params_after = nnx.state(layer, nnx.Param)
    assert jax.tree.structure(params_after) == jax.tree.structure(params_before)
    assert all(
        a is b for a, b in zip(jax.tree.leaves(params_after), jax.tree.leaves(params_before))
    )
    y = layer(x)
    assert y.shape == stock_y.shape and y.dtype == stock_y.dtype
    np.testing.assert_allclose(np.asarray(y), np.asarray(stock_y), rtol=1e-5, atol=1e-5)
    loss, grads = _loss_and_grads(layer, x, g, reverse=True)
    np.testing.assert_allclose(float(loss), float(stock_loss), rtol=1e-5)
    _assert_trees_close(grads, stock_grads, 2e-4)


def test_the_swap_reaches_every_layer_and_is_idempotent():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.stem = nnx.Conv(3, 4, (3, 3), rngs=rngs)
            self.blocks = nnx.List([nnx.Conv(4, 4, (3, 3), feature_group_count=4, rngs=rngs)] * 2)
            self.up = nnx.Dict(deconv=nnx.ConvTranspose(4, 2, (2, 2), strides=2, rngs=rngs))
            self.head = nnx.Linear(2, 1, rngs=rngs)

    net = Net(nnx.Rngs(0))
    jaxconv.swap_convolutions(net)
    jaxconv.swap_convolutions(net)
    assert net.stem.conv_general_dilated is jaxconv.conv_general_dilated
    assert net.blocks[1].conv_general_dilated is jaxconv.conv_general_dilated
    assert type(net.up["deconv"]) is JaxconvConvTranspose
    assert isinstance(net.up["deconv"], nnx.ConvTranspose)
    assert type(net.head) is nnx.Linear


def test_the_swap_can_leave_the_dense_layers_stock():
    net = _Tiny(seed=0)
    assert jaxconv.swap_convolutions(net, layers=(nnx.ConvTranspose,)) is net
    assert net.down.conv_general_dilated is lax.conv_general_dilated
    assert type(net.up) is JaxconvConvTranspose
    with pytest.raises(ValueError, match="nnx.Conv and nnx.ConvTranspose"):
        jaxconv.swap_convolutions(net, layers=(nnx.Linear,))


class _Tiny(nnx.Module):
    def __init__(self, seed):
        rngs = nnx.Rngs(seed)
        self.down = nnx.Conv(2, 4, (3, 3), strides=2, rngs=rngs)
        self.up = nnx.ConvTranspose(4, 2, (3, 3), strides=2, transpose_kernel=True, rngs=rngs)

    def __call__(self, x):
        return self.up(nnx.relu(self.down(x)))


def test_a_checkpoint_written_before_the_swap_restores_after_it(tmp_path):
    stock = _Tiny(seed=0)
    flat = nnx.to_flat_state(nnx.state(stock))
    path = tmp_path / "checkpoint.npz"
    np.savez(path, **{"/".join(map(str, k)): np.asarray(v[...]) for k, v in flat})

    restored = jaxconv.swap_convolutions(_Tiny(seed=1))  # other weights, then the checkpoint's
    saved = np.load(path)
    state = nnx.state(restored)
    assert sorted("/".join(map(str, k)) for k, _ in nnx.to_flat_state(state)) == sorted(saved)
    nnx.replace_by_pure_dict(
        state,
        jax.tree.unflatten(
            jax.tree.structure(nnx.to_pure_dict(state)),
            [saved["/".join(map(str, k))] for k, _ in nnx.to_flat_state(state)],
        ),
    )
    nnx.update(restored, state)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 2)), jnp.float32)
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(stock(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_an_optimizer_made_before_the_swap_steps_as_the_stock_one():
    optax = pytest.importorskip("optax")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 2)), jnp.float32)

    def loss_fn(model):
        return jnp.mean(model(x) ** 2)

    def step(model, grads):
        optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
        jaxconv.swap_convolutions(model)  # the optimizer's state was made for the stock layers
        optimizer.update(model, grads)
        return model

    stock, swapped = _Tiny(seed=0), _Tiny(seed=0)
    grads = jax.jacfwd(lambda p: loss_fn(nnx.merge(nnx.graphdef(stock), p)))(nnx.state(stock))
    step(swapped, grads)
    optimizer = nnx.Optimizer(stock, optax.adam(1e-2), wrt=nnx.Param)
    optimizer.update(stock, grads)
    _assert_trees_close(nnx.state(swapped), nnx.state(stock), 1e-6)
    np.testing.assert_allclose(float(nnx.jit(loss_fn)(swapped)), float(loss_fn(stock)), rtol=1e-5)


def _custom_conv(*args, **kwargs):
    return lax.conv_general_dilated(*args, **kwargs)


class _ConvTransposeWithItsOwnCall(nnx.ConvTranspose):
    def __call__(self, x):
        return super().__call__(x) * 2


@pytest.mark.parametrize(
    "bad, reason",
    [
        (functools.partial(nnx.Conv, 4, 4, (3, 3), conv_general_dilated=_custom_conv),
         "own conv_general_dilated"),
        (functools.partial(nnx.Conv, 4, 4, (3, 3), dtype=jnp.int32),
         "dtype is int32"),
        (functools.partial(_ConvTransposeWithItsOwnCall, 4, 4, (3, 3)),
         "_ConvTransposeWithItsOwnCall, a subclass"),
    ],
)  # fmt: skip
def test_a_layer_it_cannot_serve_is_named_before_anything_changes(bad, reason):
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.first = nnx.Conv(2, 4, (3, 3), rngs=rngs)
            self.deconv = nnx.ConvTranspose(4, 4, (2, 2), rngs=rngs)
            self.blocks = nnx.List([nnx.Conv(4, 4, (1, 1), rngs=rngs), bad(rngs=rngs)])

    net = Net(nnx.Rngs(0))
    with pytest.raises(ValueError, match=f"at blocks/1: .*{reason}") as error:
        jaxconv.swap_convolutions(net)
    assert "\n" not in str(error.value)
    assert net.first.conv_general_dilated is lax.conv_general_dilated
    assert net.blocks[0].conv_general_dilated is lax.conv_general_dilated
    assert type(net.deconv) is nnx.ConvTranspose


@pytest.mark.parametrize("padding", ["REFLECT", "CAUSAL"])
def test_a_padding_the_stock_transposed_layer_refuses_is_refused_after_the_swap(padding):
    layer = nnx.ConvTranspose(2, 3, (3,), strides=2, padding=padding, rngs=nnx.Rngs(0))
    x = jnp.ones((1, 5, 2))
    with pytest.raises(ValueError):
        layer(x)
    jaxconv.swap_convolutions(layer)
    with pytest.raises(ValueError, match="padding"):
        layer(x)


def test_linen_users_get_the_same_as_the_guide_says():
    """Linen: nn.Conv takes conv_general_dilated (input dilation included); nn.ConvTranspose's
    numbers come from conv_transpose_general on the same kernel."""
    import flax.linen as nn

    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 4, 3)), jnp.float32)
    conv = dict(features=4, kernel_size=(3, 3), input_dilation=2, padding=[(1, 2), (2, 1)])
    stock = nn.Conv(**conv)
    params = stock.init(jax.random.key(0), x)
    ours = nn.Conv(**conv, conv_general_dilated=jaxconv.conv_general_dilated).apply(params, x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(stock.apply(params, x)), atol=1e-5)

    deconv = nn.ConvTranspose(4, (3, 3), strides=(2, 2), padding="SAME", transpose_kernel=True)
    params = deconv.init(jax.random.key(1), x)
    p = params["params"]
    ours = jaxconv.conv_transpose_general(
        x, p["kernel"], (2, 2), "SAME", transpose_kernel=True
    ) + p["bias"].reshape(1, 1, 1, -1)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(deconv.apply(params, x)), atol=1e-5)
