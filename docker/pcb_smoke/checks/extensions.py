"""This image's own CUDA extensions: pointops (kNN, farthest point sampling) and pointgroup_ops
(ball query), against CPU brute force."""
import os

from ..core import CheckFailed, brute_knn, close


def check_pointops(ctx):
    import pointops

    ctx.versions["pointops"] = getattr(pointops, "__version__", None) or ctx.versions.get(
        "pointops")
    missing = [f for f in ("knn_query", "farthest_point_sampling") if not hasattr(pointops, f)]
    if missing:
        raise CheckFailed("pointops lacks " + ", ".join(missing))
    return f"pointops {ctx.versions['pointops']} from {os.path.dirname(pointops.__file__)}"


def _brute_fps(xyz, offset, new_offset):
    """Farthest point sampling on the CPU in float64: each scene starts at its first point; the
    lowest index wins among equal maxima. Returns the global indices."""
    import torch

    picks = []
    start, nstart = 0, 0
    for end, nend in zip(offset.tolist(), new_offset.tolist()):
        pts = xyz[start:end].double()
        count = nend - nstart
        if count > 0:
            mind = torch.full((end - start,), float("inf"), dtype=torch.float64)
            cur = 0
            for _ in range(count):
                picks.append(start + cur)
                mind = torch.minimum(mind, ((pts - pts[cur]) ** 2).sum(1))
                cur = int(torch.argmax(mind))
        start, nstart = end, nend
    return torch.tensor(picks, dtype=torch.long)


def check_pointops_gpu(ctx):
    import torch
    import pointops

    dev = ctx.device
    gen = torch.Generator().manual_seed(11)
    sizes = [700, 450]
    xyz = torch.rand(sum(sizes), 3, generator=gen) * torch.tensor([4.0, 3.0, 2.0])
    offset = torch.tensor([700, 1150], dtype=torch.int32)
    errors = []
    # kNN self-query.
    k = 16
    idx, dist = pointops.knn_query(k, xyz.to(dev), offset.to(dev))
    idx, dist = idx.long().cpu(), dist.double().cpu()
    scene = torch.cat([torch.zeros(700, dtype=torch.long), torch.ones(450, dtype=torch.long)])
    ref_d, ref_i = brute_knn(xyz, xyz, k, scene, scene)
    if tuple(idx.shape) != (xyz.shape[0], k):
        errors.append(f"knn_query idx shape {tuple(idx.shape)}, expected ({xyz.shape[0]}, {k})")
    else:
        if bool((idx < 0).any()) or bool((scene[idx.clamp(min=0)] != scene[:, None]).any()):
            errors.append("knn_query returned a neighbour outside the query's scene")
        # The chosen neighbours must be as near as the true k nearest (exact up to float ties).
        d_of_idx = (xyz[idx.clamp(min=0)].double() - xyz[:, None].double()).norm(dim=2)
        close("knn_query neighbour distances", d_of_idx, ref_d, 1e-5, errors)
        close("knn_query dist output", dist, ref_d, 1e-4, errors)
        exact = float((idx == ref_i).double().mean())
        if exact < 0.999:
            errors.append(f"knn_query indices agree with brute force for only {exact:.1%}")
    # Farthest point sampling, 2 scenes.
    new_offset = torch.tensor([90, 150], dtype=torch.int32)
    got = pointops.farthest_point_sampling(xyz.to(dev), offset.to(dev), new_offset.to(dev))
    got = got.long().cpu()
    ref = _brute_fps(xyz, offset, new_offset)
    note = ""
    if tuple(got.shape) != tuple(ref.shape):
        errors.append(f"farthest_point_sampling gave {tuple(got.shape)} indices, expected "
                      f"{tuple(ref.shape)}")
    elif not bool((got == ref).all()):
        first = int((got != ref).nonzero()[0])
        # Accept only a float near-tie at the first difference: both candidates equally far
        # from the samples already chosen in their scene.
        scene_no = int((new_offset.long() <= first).sum())
        lo = 0 if scene_no == 0 else int(offset[scene_no - 1])
        hi = int(offset[scene_no])
        prev = got[:first]
        prev = prev[(prev >= lo) & (prev < hi)]
        pts = xyz.double()

        def gap(i):
            return float(((pts[prev] - pts[i]) ** 2).sum(1).min())

        if prev.numel() == 0:  # a scene's first sample is its first point: no tie possible
            errors.append(f"farthest_point_sampling differs from brute force at sample {first}: "
                          f"{int(got[first])}, expected the scene's first point {int(ref[first])}")
        else:
            g_got, g_ref = gap(int(got[first])), gap(int(ref[first]))
            if abs(g_got - g_ref) > 1e-6 * max(1.0, g_ref):
                errors.append(f"farthest_point_sampling differs from brute force at sample "
                              f"{first}: {int(got[first])} (gap {g_got:.6g}) vs "
                              f"{int(ref[first])} (gap {g_ref:.6g})")
            else:
                note = f" (float near-tie at sample {first})"
    if errors:
        raise CheckFailed("; ".join(errors))
    return (f"knn_query k={k} on 2 scenes (700+450 points) and farthest_point_sampling 90+60 "
            f"samples match CPU brute force{note}")


def check_pointgroup_ops(ctx):
    import pointgroup_ops

    ctx.versions["pointgroup_ops"] = getattr(pointgroup_ops, "__version__", None) or \
        ctx.versions.get("pointgroup_ops")
    if not hasattr(pointgroup_ops, "ballquery_batch_p"):
        raise CheckFailed("pointgroup_ops lacks ballquery_batch_p")
    return f"pointgroup_ops {ctx.versions['pointgroup_ops']}"


def check_pointgroup_ops_gpu(ctx):
    import torch
    from pointgroup_ops import ballquery_batch_p

    dev = ctx.device
    gen = torch.Generator().manual_seed(5)
    # Integer grid points and a radius of 1.5: squared distances are integers and r^2 = 2.25,
    # so no pair sits on the boundary and the neighbour lists are exact.
    scenes = []
    for count in (300, 200):
        flat = torch.randperm(12 * 12 * 6, generator=gen)[:count]
        scenes.append(torch.stack([flat // 72, (flat // 6) % 12, flat % 6], 1).float())
    coords = torch.cat(scenes)
    batch_idxs = torch.cat([torch.zeros(300), torch.ones(200)]).to(torch.int32)
    batch_offsets = torch.tensor([0, 300, 500], dtype=torch.int32)
    radius, mean_active = 1.5, 50
    idx, start_len = ballquery_batch_p(coords.to(dev), batch_idxs.to(dev), batch_offsets.to(dev),
                                       radius, mean_active)
    idx, start_len = idx.long().cpu(), start_len.long().cpu()
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(2)
    same = batch_idxs[:, None] == batch_idxs[None, :]
    near = (d2 < radius * radius) & same
    if tuple(start_len.shape) != (coords.shape[0], 2):
        raise CheckFailed(f"start_len shape {tuple(start_len.shape)}, expected "
                          f"({coords.shape[0]}, 2)")
    bad = []
    for i in range(coords.shape[0]):
        start, length = int(start_len[i, 0]), int(start_len[i, 1])
        got = idx[start:start + length].tolist()
        want = near[i].nonzero().flatten().tolist()
        if got != want:
            bad.append((i, got, want))
    if bad:
        i, got, want = bad[0]
        raise CheckFailed(f"ballquery_batch_p: {len(bad)} of {coords.shape[0]} neighbour lists "
                          f"differ from brute force; point {i}: got {got[:8]}, expected "
                          f"{want[:8]} (ascending indices, itself included)")
    total = int(near.sum())
    return f"ballquery_batch_p r={radius} on 2 scenes: {total} neighbours, all lists exact"
