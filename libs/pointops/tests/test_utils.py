"""offset2batch / batch2offset against NumPy, round trips, empty scenes, validation."""
import numpy as np
import pytest
import torch

from pointops import batch2offset, offset2batch


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("sizes", [[5, 3, 7], [1], [0, 4, 0, 2], [3, 0], [0]])
def test_offset2batch(device, sizes, dtype):
    offset = torch.tensor(np.cumsum(sizes), dtype=dtype, device=device)
    got = offset2batch(offset)
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.cpu().numpy(), np.repeat(np.arange(len(sizes)), sizes))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("sizes", [[5, 3, 7], [1], [0, 4, 0, 2], [3, 0, 0, 1]])
def test_batch2offset(device, sizes, dtype):
    batch = torch.tensor(np.repeat(np.arange(len(sizes)), sizes), dtype=dtype, device=device)
    got = batch2offset(batch)
    assert got.dtype == torch.int32
    # trailing empty scenes have no point carrying their id, so they cannot be recovered
    last = max(i for i, s in enumerate(sizes) if s > 0)
    np.testing.assert_array_equal(got.cpu().numpy(), np.cumsum(sizes)[: last + 1])
    # round trip
    np.testing.assert_array_equal(offset2batch(got).cpu().numpy(), batch.cpu().numpy())


def test_empty(device):
    assert offset2batch(torch.zeros(0, dtype=torch.int32, device=device)).shape == (0,)
    assert batch2offset(torch.zeros(0, dtype=torch.int64, device=device)).shape == (0,)


def test_validation(device):
    with pytest.raises(ValueError, match="offset must be non-negative and non-decreasing"):
        offset2batch(torch.tensor([3, 2, 5], device=device))
    with pytest.raises(ValueError, match="offset must be non-negative"):
        offset2batch(torch.tensor([-1, 2], device=device))
    with pytest.raises(TypeError, match="offset"):
        offset2batch(torch.tensor([1.0, 2.0], device=device))
    with pytest.raises(ValueError, match="offset must have shape"):
        offset2batch(torch.tensor([[1, 2]], device=device))
    with pytest.raises(ValueError, match="batch must be non-decreasing"):
        batch2offset(torch.tensor([0, 1, 0], device=device))
    with pytest.raises(ValueError, match="batch values must be >= 0"):
        batch2offset(torch.tensor([-1, 0], device=device))
    with pytest.raises(TypeError, match="batch"):
        batch2offset(torch.tensor([0.0], device=device))
    with pytest.raises(TypeError, match="batch must be a torch.Tensor"):
        batch2offset([0, 0, 1])
