"""flash-attn: the compiled kernels import, and flash_attn_func matches float64 attention."""
import math

from ..core import CheckFailed, close


def check_flash_attn(ctx):
    import flash_attn
    import flash_attn_2_cuda  # noqa: F401  (the compiled kernels)

    ctx.versions["flash_attn"] = getattr(flash_attn, "__version__", None)
    return f"flash_attn {ctx.versions['flash_attn']}"


def check_flash_attn_gpu(ctx):
    import torch
    from flash_attn import flash_attn_func

    major, minor = torch.cuda.get_device_capability(torch.cuda.current_device())
    if major < 8:
        raise CheckFailed(f"FlashAttention-2 needs compute capability >= 8.0; this GPU is "
                          f"{major}.{minor}")
    gen = torch.Generator().manual_seed(3)
    batch, seq, heads, dim = 2, 77, 4, 64
    q, k, v = (torch.randn(batch, seq, heads, dim, generator=gen) for _ in range(3))
    errors = []
    for causal in (False, True):
        out = flash_attn_func(q.to("cuda", torch.float16), k.to("cuda", torch.float16),
                              v.to("cuda", torch.float16), dropout_p=0.0, causal=causal)
        qd, kd, vd = (t.double().transpose(1, 2) for t in (q.half(), k.half(), v.half()))
        scores = qd @ kd.transpose(-1, -2) / math.sqrt(dim)
        if causal:
            mask = torch.ones(seq, seq, dtype=torch.bool).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        ref = (scores.softmax(-1) @ vd).transpose(1, 2)
        close(f"attention causal={causal}", out.float().cpu(), ref, 5e-3, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return f"flash_attn_func fp16 (B={batch}, S={seq}, H={heads}, D={dim}) matches float64 softmax"
