"""spconv + cumm: imports, and a SubMConv3d forward and backward checked against a dense
float64 conv3d restricted to the active sites."""
from ..core import CheckFailed, close


def check_spconv(ctx):
    import cumm
    import spconv
    import spconv.pytorch  # noqa: F401  (loads the compiled core)

    ctx.versions["spconv"] = getattr(spconv, "__version__", None) or ctx.versions.get("spconv")
    ctx.versions["cumm"] = getattr(cumm, "__version__", None) or ctx.versions.get("cumm")
    return f"spconv {ctx.versions['spconv']}, cumm {ctx.versions['cumm']}"


def _spconv_weight_to_oidhw(w, cin, cout, k):
    """spconv stores SubMConv3d weights as (out, kd, kh, kw, in) in 2.2+ and as
    (kd, kh, kw, in, out) before; return (out, in, kd, kh, kw) as torch's conv3d wants."""
    shape = tuple(w.shape)
    if shape == (cout, k, k, k, cin):
        return w.permute(0, 4, 1, 2, 3)
    if shape == (k, k, k, cin, cout):
        return w.permute(4, 3, 0, 1, 2)
    raise CheckFailed(f"unexpected SubMConv3d weight shape {shape} for in={cin}, out={cout}")


def spconv_subm_conv_vs_dense(device, seed=1234):
    """SubMConv3d forward + backward on `device`, compared with a dense float64 conv3d on the
    CPU restricted to the active sites. Returns a detail string; raises CheckFailed."""
    import torch
    import torch.nn.functional as F
    import spconv.pytorch as spconv

    gen = torch.Generator().manual_seed(seed)
    batch, shape, cin, cout, k = 2, (9, 10, 11), 4, 5, 3  # distinct sizes catch axis mix-ups
    depth, height, width = shape
    per_scene = 160
    coords = []
    for b in range(batch):
        flat = torch.randperm(depth * height * width, generator=gen)[:per_scene]
        z = flat // (height * width)
        y = (flat // width) % height
        x = flat % width
        coords.append(torch.stack([torch.full_like(flat, b), z, y, x], dim=1))
    indices = torch.cat(coords).to(torch.int32)
    feats = torch.randn(indices.shape[0], cin, generator=gen)

    # On the GPU the default algorithm (implicit GEMM, what Pointcept uses) is tested; spconv's
    # CPU path supports only the native gather-GEMM-scatter algorithm.
    extra = {"algo": spconv.ConvAlgo.Native} if device == "cpu" else {}
    conv = spconv.SubMConv3d(cin, cout, k, padding=k // 2, bias=True, indice_key="smoke",
                             **extra)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        conv.bias.copy_(torch.randn(cout, generator=gen))
    conv = conv.to(device)
    x_feat = feats.clone().to(device).requires_grad_(True)  # a new leaf, also on the CPU
    sp_in = spconv.SparseConvTensor(x_feat, indices.to(device), list(shape), batch)
    sp_out = conv(sp_in)
    out_feat = sp_out.features
    out_idx = sp_out.indices.long().cpu()
    grad_out = torch.randn(tuple(out_feat.shape), generator=gen)
    (out_feat * grad_out.to(device)).sum().backward()
    if device != "cpu":
        torch.cuda.synchronize()

    errors = []
    # Submanifold: the output sites are exactly the input sites.
    def keys(idx):
        idx = idx.long()
        return sorted(((idx[:, 0] * depth + idx[:, 1]) * height + idx[:, 2]) * width
                      + idx[:, 3]).__iter__()
    if list(keys(out_idx)) != list(keys(indices)):
        errors.append("output sites differ from input sites")

    # Dense reference (float64, CPU): zeros at inactive sites contribute nothing, so a padded
    # conv3d gathered at the active sites equals the submanifold convolution.
    li = indices.long()
    dense = torch.zeros(batch, depth, height, width, cin, dtype=torch.float64)
    dense[li[:, 0], li[:, 1], li[:, 2], li[:, 3]] = feats.double()
    dense = dense.permute(0, 4, 1, 2, 3).contiguous().requires_grad_(True)
    w_ref = _spconv_weight_to_oidhw(conv.weight.detach().cpu().double(), cin, cout, k)
    w_ref = w_ref.contiguous().requires_grad_(True)
    b_ref = conv.bias.detach().cpu().double().requires_grad_(True)
    ref = F.conv3d(dense, w_ref, b_ref, padding=k // 2).permute(0, 2, 3, 4, 1)
    ref_at = ref[out_idx[:, 0], out_idx[:, 1], out_idx[:, 2], out_idx[:, 3]]
    if float(ref_at.abs().max()) == 0.0:
        errors.append("reference output is all zeros (bad test input)")
    (ref_at * grad_out.double()).sum().backward()

    e_fwd = close("forward", out_feat.detach().cpu(), ref_at.detach(), 1e-3, errors)
    grad_in_ref = dense.grad.permute(0, 2, 3, 4, 1)[li[:, 0], li[:, 1], li[:, 2], li[:, 3]]
    e_gin = close("grad input", x_feat.grad.cpu(), grad_in_ref, 1e-3, errors)
    g_w = _spconv_weight_to_oidhw(conv.weight.grad.cpu(), cin, cout, k)
    e_gw = close("grad weight", g_w, w_ref.grad, 1e-3, errors)
    e_gb = close("grad bias", conv.bias.grad.cpu(), b_ref.grad, 1e-3, errors)
    if errors:
        raise CheckFailed("SubMConv3d vs dense conv3d: " + "; ".join(errors))
    return (f"SubMConv3d {cin}->{cout} k{k} on {indices.shape[0]} sites, {batch} scenes: max err "
            f"fwd {e_fwd:.1e}, grad in {e_gin:.1e}, grad w {e_gw:.1e}, grad b {e_gb:.1e}")


def check_spconv_gpu(ctx):
    return spconv_subm_conv_vs_dense(ctx.device)
