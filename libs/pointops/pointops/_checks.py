"""Python-side argument checks shared by the pointops functions.

Each helper raises TypeError (wrong type or dtype) or ValueError (wrong shape, device or value)
with a message that names the argument and says what is accepted. Checks here never look at
tensor *values* on the GPU (that would synchronise); value checks that need the data (offsets
non-decreasing and ending at N, index ranges) are done once in C++, where they raise the same
exception types.
"""
import numbers

import torch

_INDEX_DTYPES = (torch.int32, torch.int64)


def _tensor(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_points(x, name, device=None, device_name=None):
    """A float32 (n, 3) tensor; returns it contiguous."""
    _tensor(x, name)
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be a float32 tensor of shape (n, 3), got dtype {x.dtype}")
    if x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {tuple(x.shape)}")
    check_device(x, name, device, device_name)
    return x.contiguous()


def check_features(x, name, rows=None, rows_name=None, device=None, device_name=None):
    """A float32 (n, c) tensor (n == rows when given); returns it contiguous."""
    _tensor(x, name)
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be a float32 tensor of shape (n, c), got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (n, c), got {tuple(x.shape)}")
    if rows is not None and x.shape[0] != rows:
        raise ValueError(
            f"{name} must have one row per point of {rows_name} ({rows}), got {x.shape[0]} rows"
        )
    check_device(x, name, device, device_name)
    return x.contiguous()


def check_offset(offset, name, device=None, device_name=None):
    """A 1-D int32/int64 tensor of cumulative scene sizes (values are checked in C++)."""
    _tensor(offset, name)
    if offset.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must be an int32 or int64 tensor, got dtype {offset.dtype}")
    if offset.dim() != 1 or offset.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D tensor of cumulative point counts per scene "
            f"(no leading 0, last entry = number of points), got shape {tuple(offset.shape)}"
        )
    check_device(offset, name, device, device_name)
    return offset.contiguous()


def check_device(x, name, device, device_name):
    if device is not None and x.device != device:
        raise ValueError(
            f"{name} must be on the same device as {device_name} ({device}), got {x.device}"
        )


def check_int(v, name, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.dtype.is_floating_point:
            v = int(v.item())
        else:
            raise TypeError(f"{name} must be an int >= {minimum}, got {type(v).__name__}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v}")
    return v


def check_float(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = float(v.item())
        else:
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    return float(v)


def check_radii(max_radius, min_radius, max_name="max_radius", min_name="min_radius"):
    """max_radius > 0 (finite or inf), 0 <= min_radius <= max_radius."""
    max_radius = check_float(max_radius, max_name)
    min_radius = check_float(0.0 if min_radius is None else min_radius, min_name)
    if not max_radius > 0:
        raise ValueError(f"{max_name} must be > 0, got {max_radius}")
    if not min_radius >= 0:
        raise ValueError(f"{min_name} must be >= 0, got {min_radius}")
    if min_radius > max_radius:
        raise ValueError(
            f"{min_name} ({min_radius}) must not exceed {max_name} ({max_radius})"
        )
    return max_radius, min_radius
