"""The network of bench_model.py: a small point-transformer-style segmentation network with a
PointGroup-style clustering step, built only from the public functions of `pointops` and
`pointgroup_ops`, so that it runs on this repository's libraries and on Pointcept's original ones
alike (whichever `import pointops` finds).

    stem      Linear(6 -> 32) on colour and position
    encoder   4 levels of 32, 64, 128, 256 channels. Between levels a TransitionDown:
              farthest_point_sampling keeps 1/4 of each scene, and each kept point max-pools a
              Linear of its 16 nearest finer points (knn_query_and_group, relative coordinates).
              At each level one attention block.
    block     vector attention over the 16 nearest neighbours: per channel group, weights from
              q_i - k_j + pos(p_j - p_i), a softmax over the neighbours, then the weighted sum of
              v_j + pos(p_j - p_i); an MLP after it. The neighbours are found once per level
              (knn_query_and_group) and reused by the value gather and by the decoder.
    decoder   TransitionUp: interpolation of the coarser features (3 nearest) plus a Linear of the
              skip features, then one attention block per level
    heads     semantic logits and the offset of each point to its instance's centre
    cluster   at inference, PointGroup's own call: ballquery_batch_p on the GPU over the shifted
              foreground points, then bfs_cluster on .cpu() copies

Every op call goes through OpTimer, which times it on the device's timeline, forward and backward.
"""
import contextlib
import time

import torch
import torch.nn.functional as F
from torch import nn


class _Mark(torch.autograd.Function):
    """Identity whose backward stamps the time into span[slot]. Put after an op's output, it marks
    when the op's output gradient arrives; before its input, when the input gradient leaves."""

    @staticmethod
    def forward(ctx, timer, span, slot, x):
        ctx.timer, ctx.span, ctx.slot = timer, span, slot
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        ctx.span[ctx.slot] = ctx.timer.now()
        return None, None, None, grad


class OpTimer:
    """Times op calls: CUDA events on the current stream (wall clock on the CPU) around each call
    and around its backward. Because the autograd engine runs the nodes an op created after the
    ones created later, an op's backward is the span between its two marks. A call inside a
    region() is reported as a detail of it and left out of the totals."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.spans = []  # [name, detail, forward start, forward end, backward start, backward end]
        self.depth = 0

    def now(self):
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _ms(self, start, end):
        if start is None or end is None:
            return 0.0
        return start.elapsed_time(end) if self.cuda else (end - start) * 1e3

    @contextlib.contextmanager
    def region(self, name):
        """Times a sequence of calls as one (forward only); the calls inside are details."""
        span = [name, self.depth > 0, self.now(), None, None, None]
        self.spans.append(span)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            span[3] = self.now()

    def call(self, name, fn, *args, grad_arg=None, **kwargs):
        """fn(*args, **kwargs), timed. grad_arg: the index in args of the one input that may
        carry a gradient (its backward is timed when it does)."""
        span = [name, self.depth > 0, None, None, None, None]
        self.spans.append(span)
        args = list(args)
        if grad_arg is not None and torch.is_grad_enabled() and args[grad_arg].requires_grad:
            args[grad_arg] = _Mark.apply(self, span, 5, args[grad_arg])
        span[2] = self.now()
        out = fn(*args, **kwargs)
        span[3] = self.now()
        first = out[0] if isinstance(out, tuple) else out
        if torch.is_grad_enabled() and first.requires_grad:
            first = _Mark.apply(self, span, 4, first)
            out = (first, *out[1:]) if isinstance(out, tuple) else first
        return out

    def collect(self):
        """{name: {"calls", "forward_ms", "backward_ms", "detail"}} of the spans so far; clears them."""
        if self.cuda:
            torch.cuda.synchronize()
        found = {}
        for name, detail, f0, f1, b0, b1 in self.spans:
            row = found.setdefault(name, {"calls": 0, "forward_ms": 0.0, "backward_ms": 0.0,
                                          "detail": detail})
            row["calls"] += 1
            row["forward_ms"] += self._ms(f0, f1)
            row["backward_ms"] += self._ms(b0, b1)
        self.spans = []
        return found


class Ops:
    """The public functions of pointops / pointgroup_ops that the network calls, timed."""

    def __init__(self, pointops, pointgroup_ops, timer):
        self.po, self.pgo, self.timer = pointops, pointgroup_ops, timer

    def knn_group(self, feat, xyz, offset, new_xyz=None, new_offset=None, idx=None, nsample=None,
                  with_xyz=False):
        return self.timer.call("knn_query_and_group", self.po.knn_query_and_group, feat, xyz,
                               offset, new_xyz, new_offset, idx, nsample, with_xyz, grad_arg=0)

    def fps(self, xyz, offset, new_offset):
        return self.timer.call("farthest_point_sampling", self.po.farthest_point_sampling, xyz,
                               offset, new_offset)

    def interpolate(self, xyz, new_xyz, feat, offset, new_offset):
        return self.timer.call("interpolation", self.po.interpolation, xyz, new_xyz, feat, offset,
                               new_offset, 3, grad_arg=2)

    def ballquery(self, coords, batch_idxs, batch_offsets, radius, mean_active):
        return self.timer.call("ballquery_batch_p", self.pgo.ballquery_batch_p, coords, batch_idxs,
                               batch_offsets, radius, mean_active)

    def bfs(self, semantic_label, idx, start_len, threshold):
        return self.timer.call("bfs_cluster", self.pgo.bfs_cluster, semantic_label, idx, start_len,
                               threshold)


class Attention(nn.Module):
    def __init__(self, ops, channels, groups, nsample):
        super().__init__()
        self.ops, self.groups, self.nsample = ops, groups, nsample
        self.q, self.k, self.v = (nn.Linear(channels, channels) for _ in range(3))
        self.pos = nn.Sequential(nn.Linear(3, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.weight = nn.Sequential(nn.Linear(channels, groups), nn.ReLU(),
                                    nn.Linear(groups, groups))

    def forward(self, x, xyz, offset, idx):
        q, k, v = self.q(x), self.k(x), self.v(x)
        grouped_k, idx = self.ops.knn_group(k, xyz, offset, idx=idx, nsample=self.nsample,
                                            with_xyz=True)
        grouped_v, _ = self.ops.knn_group(v, xyz, offset, idx=idx)
        pos = self.pos(grouped_k[..., :3])
        weight = self.weight(q.unsqueeze(1) - grouped_k[..., 3:] + pos)
        weight = weight.float().masked_fill((idx < 0).unsqueeze(-1), float("-inf")).softmax(dim=1)
        n, ns, c = grouped_v.shape
        value = (grouped_v + pos).view(n, ns, self.groups, c // self.groups)
        return (value * weight.unsqueeze(-1).to(value.dtype)).sum(1).reshape(n, c), idx


class Block(nn.Module):
    def __init__(self, ops, channels, groups=4, nsample=16):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.attn = Attention(ops, channels, groups, nsample)
        self.proj = nn.Linear(channels, channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.ReLU(),
                                 nn.Linear(2 * channels, channels))

    def forward(self, x, xyz, offset, idx=None):
        attended, idx = self.attn(self.norm1(x), xyz, offset, idx)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x)), idx


class Down(nn.Module):
    def __init__(self, ops, cin, cout, stride=4, nsample=16):
        super().__init__()
        self.ops, self.stride, self.nsample = ops, stride, nsample
        self.lin, self.norm = nn.Linear(3 + cin, cout), nn.LayerNorm(cout)

    def forward(self, x, xyz, offset):
        counts = torch.diff(offset, prepend=offset.new_zeros(1))
        new_offset = torch.cumsum(torch.clamp(counts // self.stride, min=1), 0).int()
        idx = self.ops.fps(xyz, offset, new_offset)
        new_xyz = xyz[idx.long()].contiguous()
        grouped, _ = self.ops.knn_group(x, xyz, offset, new_xyz, new_offset, nsample=self.nsample,
                                        with_xyz=True)
        return F.relu(self.norm(self.lin(grouped))).max(dim=1).values, new_xyz, new_offset


class Up(nn.Module):
    def __init__(self, ops, c_coarse, c_fine):
        super().__init__()
        self.ops = ops
        self.coarse, self.fine = nn.Linear(c_coarse, c_fine), nn.Linear(c_fine, c_fine)

    def forward(self, coarse, fine):
        (x, xyz, offset), (x_fine, xyz_fine, offset_fine) = coarse, fine
        up = self.ops.interpolate(xyz, xyz_fine, self.coarse(x).contiguous(), offset, offset_fine)
        return self.fine(x_fine) + up


class SegNet(nn.Module):
    def __init__(self, ops, in_channels=6, classes=13, channels=(32, 64, 128, 256)):
        super().__init__()
        c0 = channels[0]
        self.stem = nn.Sequential(nn.Linear(in_channels, c0), nn.LayerNorm(c0), nn.ReLU())
        self.enc = nn.ModuleList(Block(ops, c) for c in channels)
        self.down = nn.ModuleList(Down(ops, a, b) for a, b in zip(channels, channels[1:]))
        self.up = nn.ModuleList(Up(ops, b, a) for a, b in zip(channels, channels[1:]))
        self.dec = nn.ModuleList(Block(ops, c) for c in channels[:-1])
        self.seg_head = nn.Sequential(nn.Linear(c0, c0), nn.ReLU(), nn.Linear(c0, classes))
        self.offset_head = nn.Sequential(nn.Linear(c0, c0), nn.ReLU(), nn.Linear(c0, 3))

    def forward(self, coord, feat, offset):
        x, xyz, levels = self.stem(feat), coord, []
        for i, block in enumerate(self.enc):
            if i > 0:
                x, xyz, offset = self.down[i - 1](x, xyz, offset)
            x, idx = block(x, xyz, offset)
            levels.append((x, xyz, offset, idx))
        for i in reversed(range(len(self.dec))):
            x_fine, xyz_fine, offset_fine, idx = levels[i]
            x = self.up[i]((x, xyz, offset), (x_fine, xyz_fine, offset_fine))
            xyz, offset = xyz_fine, offset_fine
            x, _ = self.dec[i](x, xyz, offset, idx)
        return self.seg_head(x), self.offset_head(x)


CLUSTER_CALL = "ballquery_batch_p + .cpu() copies + bfs_cluster"


def cluster(ops, coord, segment, center_offset, offset, ignore=(0, 1), voxel=0.02, radius=1.5,
            mean_active=300, min_points=50):
    """PointGroup's proposal step, with its calls as Pointcept's heads make them: centres in voxel
    units, ballquery_batch_p on the device, bfs_cluster on CPU copies. Returns (proposals_idx,
    proposals_offset) with point indices into coord."""
    center = (coord + center_offset.float()) / voxel
    mask = torch.ones_like(segment, dtype=torch.bool)
    for label in ignore:
        mask &= segment != label
    counts = torch.diff(offset.long(), prepend=offset.new_zeros(1).long())
    batch = torch.repeat_interleave(torch.arange(len(counts), device=coord.device), counts)[mask]
    batch_offsets = torch.cat([batch.new_zeros(1), torch.cumsum(torch.bincount(
        batch, minlength=len(counts)), 0)])
    with ops.timer.region(CLUSTER_CALL):
        idx, start_len = ops.ballquery(center[mask].contiguous(), batch.int(),
                                       batch_offsets.int(), radius, mean_active)
        proposals_idx, proposals_offset = ops.bfs(segment[mask].int().cpu(), idx.cpu(),
                                                  start_len.cpu(), min_points)
    proposals_idx[:, 1] = mask.nonzero().view(-1)[proposals_idx[:, 1].long()].int()
    return proposals_idx, proposals_offset
