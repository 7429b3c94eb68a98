"""PyG and its compiled companions (torch_scatter, torch_cluster, torch_sparse): imports, and
each one's main operation on the GPU against a reference."""
from ..core import CheckFailed, brute_knn, close


def check_torch_geometric(ctx):
    import torch_cluster
    import torch_geometric
    import torch_scatter
    import torch_sparse

    for key, mod in (("torch_geometric", torch_geometric), ("torch_scatter", torch_scatter),
                     ("torch_cluster", torch_cluster), ("torch_sparse", torch_sparse)):
        ctx.versions[key] = getattr(mod, "__version__", None) or ctx.versions.get(key)
    return ", ".join(f"{k} {ctx.versions[k]}" for k in
                     ("torch_geometric", "torch_scatter", "torch_cluster", "torch_sparse"))


def check_torch_geometric_gpu(ctx):
    import torch
    import torch_cluster
    import torch_scatter
    from torch_geometric.nn import GCNConv
    from torch_sparse import SparseTensor

    dev = ctx.device
    gen = torch.Generator().manual_seed(7)
    errors = []
    # torch_scatter: sum and max against PyTorch's own scatter ops.
    src = torch.randn(1000, 16, generator=gen)
    index = torch.randint(0, 50, (1000,), generator=gen)
    got = torch_scatter.scatter(src.to(dev), index.to(dev), dim=0, dim_size=50, reduce="sum")
    ref = torch.zeros(50, 16, dtype=torch.float64).index_add_(0, index, src.double())
    close("scatter sum", got.cpu(), ref, 1e-5, errors)
    got = torch_scatter.scatter(src.to(dev), index.to(dev), dim=0, dim_size=50, reduce="max")
    ref = torch.full((50, 16), float("-inf")).scatter_reduce(
        0, index[:, None].expand(-1, 16), src, reduce="amax")
    ref[torch.isinf(ref)] = 0.0  # torch_scatter fills empty groups with 0
    close("scatter max", got.cpu(), ref, 0.0, errors)
    # torch_cluster: kNN between two batched point sets against brute force.
    x = torch.rand(300, 3, generator=gen)
    y = torch.rand(120, 3, generator=gen)
    bx = torch.cat([torch.zeros(180, dtype=torch.long), torch.ones(120, dtype=torch.long)])
    by = torch.cat([torch.zeros(50, dtype=torch.long), torch.ones(70, dtype=torch.long)])
    k = 6
    edge = torch_cluster.knn(x.to(dev), y.to(dev), k, bx.to(dev), by.to(dev)).cpu()
    ref_d, _ = brute_knn(x, y, k, bx, by)
    if edge.shape != (2, y.shape[0] * k):
        errors.append(f"knn: edge_index shape {tuple(edge.shape)}, expected (2, {y.shape[0] * k})")
    else:
        d_got = (x[edge[1]].double() - y[edge[0]].double()).norm(dim=1)
        order = torch.argsort(edge[0], stable=True)  # group the edges by query point
        d_got = d_got[order].view(-1, k).sort(dim=1).values
        if not bool((bx[edge[1]] == by[edge[0]]).all()):
            errors.append("knn: an edge crosses batches")
        close("knn distances", d_got, ref_d, 1e-5, errors)
    # torch_sparse: SparseTensor @ dense against a dense matmul.
    row = torch.randint(0, 40, (200,), generator=gen)
    col = torch.randint(0, 30, (200,), generator=gen)
    val = torch.randn(200, generator=gen)
    dense_rhs = torch.randn(30, 8, generator=gen)
    adj = SparseTensor(row=row.to(dev), col=col.to(dev), value=val.to(dev), sparse_sizes=(40, 30))
    got = adj.matmul(dense_rhs.to(dev)).cpu()
    dense_adj = torch.zeros(40, 30, dtype=torch.float64).index_put_(
        (row, col), val.double(), accumulate=True)
    close("sparse matmul", got, dense_adj @ dense_rhs.double(), 1e-5, errors)
    # torch_geometric: a GCN layer on the device against the same layer on the CPU in float64.
    conv = GCNConv(8, 6)
    feats = torch.randn(60, 8, generator=gen)
    ei = torch.randint(0, 60, (2, 240), generator=gen)
    got = conv.to(dev)(feats.to(dev), ei.to(dev)).detach().cpu()
    ref = conv.cpu().double()(feats.double(), ei).detach()
    close("GCNConv", got, ref, 1e-4, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return "scatter sum/max, knn (k=6, 2 batches), SparseTensor matmul, GCNConv match references"
