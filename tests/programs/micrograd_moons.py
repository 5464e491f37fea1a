"""micrograd's two sanity checks written with PyTorch tensors, then its demo: a small MLP with an
SVM max-margin loss and L2 penalty on scikit-learn's two moons, trained by plain gradient descent.
"""
from sklearn.datasets import make_moons

import shendu as torch
import shendu.nn as nn


def sanity_checks():
    x = torch.Tensor([-4.0]).double()
    x.requires_grad = True
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    first = (y.data.item(), x.grad.item())

    a = torch.Tensor([-4.0]).double()
    b = torch.Tensor([2.0]).double()
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    second = (g.data.item(), a.grad.item(), b.grad.item())

    # the same expression with the in-place `+=` on intermediate tensors
    a2 = torch.tensor([-4.0], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    c2 = a2 + b2
    d2 = a2 * b2 + b2**3
    c2 += c2 + 1
    c2 += 1 + c2 + (-a2)
    d2 += d2 * 2 + (b2 + a2).relu()
    d2 += 3 * d2 + (b2 - a2).relu()
    e2 = c2 - d2
    f2 = e2**2
    g2 = f2 / 2.0
    g2 += 10.0 / f2
    g2.backward()
    inplace = (g2.item(), a2.grad.item(), b2.grad.item())
    return {"first": first, "second": second, "inplace": inplace}


class Layer(nn.Module):
    def __init__(self, nin, nout, nonlin=True):
        super().__init__()
        self.w = nn.Parameter(torch.empty(nin, nout).uniform_(-1, 1))
        self.b = nn.Parameter(torch.zeros(nout))
        self.nonlin = nonlin

    def forward(self, x):
        act = x @ self.w + self.b
        return act.relu() if self.nonlin else act


class MLP(nn.Module):
    def __init__(self, nin, nouts):
        super().__init__()
        sz = [nin] + nouts
        self.layers = nn.ModuleList([Layer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def main(steps=100):
    checks = sanity_checks()
    torch.manual_seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1, random_state=0)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y * 2 - 1, dtype=torch.float32)  # labels -1 or 1
    model = MLP(2, [16, 16, 1])
    n_params = len(list(model.parameters())), sum(p.numel() for p in model.parameters())

    def loss_fn():
        scores = model(X).squeeze(1)
        losses = (1 + -y * scores).relu()  # svm "max-margin" loss
        data_loss = losses.mean()
        alpha = 1e-4
        reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = ((y > 0) == (scores > 0)).float().mean()
        return total_loss, accuracy

    history = []
    for k in range(steps):
        total_loss, acc = loss_fn()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((total_loss.item(), acc.item()))

    with torch.no_grad():
        xx, yy = torch.meshgrid(torch.linspace(-2, 3, 30), torch.linspace(-1.5, 2, 30), indexing="ij")
        grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
        Z = (model(grid).squeeze(1) > 0).view(xx.shape)
    return {"checks": checks, "n_params": n_params, "final_loss": history[-1][0], "final_accuracy": history[-1][1],
            "best_accuracy": max(a for _, a in history), "grid": tuple(Z.shape)}


if __name__ == "__main__":
    print(main())
