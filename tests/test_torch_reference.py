"""The PyTorch unfold/fold Function the benchmark times: its hand-written backward is right."""

import pytest

torch = pytest.importorskip(
    "torch",
    reason="torch is not a dependency; pip install torch to check the benchmark's reference",
)

from train.torch_reference import Conv2DFunc  # noqa: E402


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (2, 1)])
def test_unfold_fold_function_forward_and_gradients(stride, padding):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    kernel = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    expected = torch.nn.functional.conv2d(x, kernel, stride=stride, padding=padding)
    assert torch.allclose(Conv2DFunc.apply(x, kernel, stride, padding), expected)
    assert torch.autograd.gradcheck(
        lambda x, k: Conv2DFunc.apply(x, k, stride, padding), (x, kernel)
    )
