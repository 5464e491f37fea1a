"""The 60-minute blitz, parts 1 and 2: tensors and a gentle introduction to autograd.

Everything here is deterministic, so the test compares every value with PyTorch's.
"""
import numpy as np

import shendu as torch


def tensors():
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    x_ones = torch.ones_like(x_data)
    x_full = torch.full_like(x_data, 7, dtype=torch.float)
    shape = (2, 3)
    zeros_tensor = torch.zeros(shape)
    ones_tensor = torch.ones(shape)

    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tensor = tensor.to(device)
    attributes = (tuple(tensor.shape), tensor.dtype == torch.float32, tensor.device.type)

    first_row, first_col, last_col = tensor[0], tensor[:, 0], tensor[..., -1]
    t = torch.ones(4, 4)
    t[:, 1] = 0
    t1 = torch.cat([t, t, t], dim=1)
    stacked = torch.stack([first_row, last_col.new_zeros(4)])

    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.empty_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    agg = tensor.sum()
    agg_item = agg.item()

    inplace = tensor.clone()
    inplace.add_(5)
    inplace.mul_(0.5).clamp_(max=6.0)

    # the NumPy bridge shares memory both ways
    t_ones = torch.ones(5)
    n = t_ones.numpy()
    t_ones.add_(1)
    n_arr = np.ones(5)
    t_from = torch.from_numpy(n_arr)
    np.add(n_arr, 1, out=n_arr)

    x = torch.linspace(-1.0, 1.0, 6).view(2, 3)
    printed = [
        f"First row: {tensor[0]}",
        f"Ones Tensor: \n {x_ones} \n",
        str(t1[:2, :5]),
        str(torch.tensor([True, False])),
        repr(torch.zeros(2, dtype=torch.float64)),
        str(torch.tensor([1e-8, 1.0, 1e8])),
        str(torch.tensor([float("nan"), float("inf"), 1.5])),
        str(torch.tensor(3.5)),
        str(torch.arange(6).view(2, 3) * 1000),
        str(torch.linspace(0, 1, 4, requires_grad=True)),
        str(x.unsqueeze(0)),
    ]
    return {
        "printed": printed,
        "x_data": x_data.tolist(),
        "x_np_dtype": x_np.dtype == torch.int64,
        "x_ones": x_ones.tolist(),
        "x_full": x_full.tolist(),
        "zeros_ones": (zeros_tensor + ones_tensor).tolist(),
        "attributes": attributes,
        "rows_cols": (first_row.tolist(), first_col.tolist(), last_col.tolist()),
        "t1": t1.tolist(),
        "stacked": stacked.tolist(),
        "matmuls": (y1.tolist(), y2.tolist(), y3.tolist()),
        "products": (z1.tolist(), z2.tolist()),
        "agg": (agg_item, type(agg_item).__name__),
        "inplace": inplace.tolist(),
        "bridge": (n.tolist(), t_from.tolist(), t_from.dtype == torch.float64),
        "view_ops": (x.t().contiguous().view(-1).tolist(), x.unsqueeze(0).size(), x.flatten().argmax().item()),
        "size": (x.size(), x.size(1), x.numel(), x.dim()),
    }


def autograd():
    # a one-layer network: z = x w + b, binary cross-entropy with logits
    x = torch.ones(5)
    y = torch.zeros(3)
    w = torch.linspace(-0.5, 0.5, 15).reshape(5, 3).requires_grad_()
    b = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    grad_fn_name = type(z.grad_fn).__name__ if z.grad_fn is not None else None

    with torch.no_grad():
        z_no = torch.matmul(x, w) + b
    z_det = (torch.matmul(x, w) + b).detach()

    # vector-Jacobian products: backward with an explicit gradient, accumulating across calls
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    first = inp.grad.clone()
    out.backward(torch.ones_like(out))
    second = inp.grad.clone()
    inp.grad.zero_()
    out2 = (inp + 1).pow(2).t()
    out2.backward(torch.ones_like(out2))

    a = torch.tensor([2.0, 3.0], requires_grad=True)
    c = torch.tensor([6.0, 4.0], requires_grad=True)
    q = 3 * a**3 - c**2
    q.backward(gradient=torch.tensor([1.0, 1.0]))
    external = torch.tensor([1.0, 2.0])
    rq = (a * c).sum()
    (ga,) = torch.autograd.grad(rq, [a])

    frozen = torch.nn.Linear(3, 2)
    for param in frozen.parameters():
        param.requires_grad = False
    return {
        "printed": [str(w.detach()), str(z.detach())],
        "loss": loss.item(),
        "w_grad": w.grad.tolist(),
        "b_grad": b.grad.tolist(),
        "z_requires_grad": (z.requires_grad, z_no.requires_grad, z_det.requires_grad, grad_fn_name is not None),
        "accumulated": (first.tolist(), second.tolist(), inp.grad.tolist()),
        "q_grads": (a.grad.tolist(), c.grad.tolist(), (9 * a**2 == a.grad).all().item(), (-2 * c == c.grad).tolist()),
        "external": (external * ga).tolist(),
        "frozen": [p.requires_grad for p in frozen.parameters()],
        "is_leaf": (w.is_leaf, z.is_leaf, loss.is_leaf),
    }


def main():
    return {"tensors": tensors(), "autograd": autograd()}


if __name__ == "__main__":
    for part, values in main().items():
        print(part)
        for key, value in values.items():
            print(f"  {key}: {value}")
