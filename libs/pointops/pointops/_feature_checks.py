"""Argument checks of the feature ops (grouping, grouping2, subtraction, aggregation,
attention steps, offset2batch/batch2offset).

Each helper raises TypeError (not a tensor, wrong dtype) or ValueError (wrong shape or
device) naming the argument and what is accepted. Value checks that need the data (index
ranges, offsets) happen once in C++, raising the same exception types.
"""
import torch

_INDEX_DTYPES = (torch.int32, torch.int64)
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def tensor(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def floats(x, name, dim, shape):
    """A floating-point tensor with `dim` dimensions (`shape` describes them)."""
    tensor(x, name)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32, float64, float16 or bfloat16 tensor of shape {shape}, "
            f"got dtype {x.dtype}"
        )
    if x.dim() != dim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def index(x, name, dim, shape):
    """An int32/int64 index tensor with `dim` dimensions (-1 = no neighbour)."""
    tensor(x, name)
    if x.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must be an int32 or int64 tensor of shape {shape}, got dtype {x.dtype}")
    if x.dim() != dim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def same_device(x, name, ref, ref_name):
    if x.device != ref.device:
        raise ValueError(f"{name} must be on the same device as {ref_name} ({ref.device}), got {x.device}")


def same_dtype(x, name, ref, ref_name):
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} must have the dtype of {ref_name} ({ref.dtype}), got {x.dtype}")


def size(x, name, d, expected, what):
    if x.shape[d] != expected:
        raise ValueError(f"{name}.shape[{d}] must equal {what} ({expected}), got shape {tuple(x.shape)}")
