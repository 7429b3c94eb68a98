"""The few argument checks of the Python layer: only what the operators cannot say.

The compiled operators (torch.ops.pointops.*) check every tensor argument themselves (dtype,
shape, device, contiguity, offsets, index ranges, k, radii: csrc/common/checks.h) and raise
TypeError or ValueError naming it. What is left for Python:
  * arguments that are not tensors at all, which the dispatcher would reject with a
    RuntimeError in its own words;
  * Python numbers (k, radii, dilation) turned into int / float, with a TypeError for anything
    else;
  * dtypes that a promotion would hide (grouping promotes xyz and feat to one dtype) and
    arguments that an operator does not receive or knows under another name.
"""
import numbers

import torch


def tensor(x, name):
    """x itself; TypeError unless it is a torch.Tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def floating(x, name, dim=None, shape=None):
    """x itself; TypeError unless it is a floating-point tensor, ValueError unless it has `dim`
    dimensions (`shape` describes them) when dim is given."""
    tensor(x, name)
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a floating-point tensor (float32, float64, float16 or bfloat16), "
            f"got dtype {x.dtype}"
        )
    if dim is not None and x.dim() != dim:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    return x


def check_int(v, name, minimum=None):
    """v as an int (a one-element integer tensor is accepted); ValueError below `minimum`."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, torch.Tensor) and v.numel() == 1 and not v.dtype.is_floating_point:
            v = int(v.item())
        else:
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    v = int(v)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v}")
    return v


def check_float(v, name):
    """v as a float (a one-element tensor is accepted)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = float(v.item())
        else:
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    return float(v)
