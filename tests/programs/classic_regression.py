"""Classic machine learning with PyTorch: linear regression on scikit-learn's diabetes data with
`torch.optim.SGD`, the same fit in float64 with L-BFGS (checked against least squares), the
closed-form fit with torch.linalg (lstsq, solve) and PCA by SVD, logistic
regression on the bundled breast-cancer set, and the saving-and-loading tutorial (state_dicts, a
checkpoint to resume training from, several models in one file, warm starts, the entire model).
Weights start at zero, so every figure is deterministic and equals PyTorch's.
"""
import os
import tempfile

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes

import shendu as torch
import shendu.nn as nn
from shendu.utils.data import DataLoader, TensorDataset


def standardize(a):
    return (a - a.mean(axis=0)) / a.std(axis=0)


class LinearRegression(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return self.linear(x)


def sgd_fit(X, y, epochs=30):
    X_t = torch.tensor(X, dtype=torch.float32)
    y_t = torch.tensor(y, dtype=torch.float32).view(-1, 1)
    model = LinearRegression(X.shape[1])
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    loader = DataLoader(TensorDataset(X_t, y_t), batch_size=64, shuffle=False)
    history = []
    for _epoch in range(epochs):
        epoch_loss = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item() * xb.size(0)
        scheduler.step()
        history.append(epoch_loss / len(loader.dataset))
    return model, history, scheduler.get_last_lr()


def lbfgs_fit(X, y):
    X_t = torch.from_numpy(X)  # float64 stays float64
    y_t = torch.from_numpy(y).unsqueeze(1)
    model = LinearRegression(X.shape[1]).double()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=100, history_size=10,
                                  line_search_fn="strong_wolfe")
    criterion = nn.MSELoss()

    def closure():
        optimizer.zero_grad()
        loss = criterion(model(X_t), y_t)
        loss.backward()
        return loss

    for _ in range(3):
        loss = optimizer.step(closure)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    w = np.concatenate([model.linear.weight.detach().numpy().ravel(), model.linear.bias.detach().numpy()])
    return {"loss": loss.item(), "dtype64": model.linear.weight.dtype == torch.float64,
            "max_coef_error": float(np.abs(w - coef).max())}


def closed_form_and_pca(X, y):
    """The textbook answers the iterative fits should reach: least squares, the normal equations,
    and PCA of the features by SVD."""
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y).unsqueeze(1)
    A = torch.cat([X_t, torch.ones(X_t.shape[0], 1, dtype=X_t.dtype)], dim=1)
    coef = torch.linalg.lstsq(A, y_t).solution
    normal = torch.linalg.solve(A.T @ A, A.T @ y_t)
    U, S, Vh = torch.linalg.svd(X_t - X_t.mean(0), full_matrices=False)
    explained = S**2 / (S**2).sum()
    return {"coef": coef.view(-1).tolist(), "normal_equations_agree": torch.allclose(coef, normal),
            "explained_variance": explained[:3].tolist(), "mse": ((A @ coef - y_t) ** 2).mean().item(),
            "svd_shapes": (tuple(U.shape), tuple(S.shape), tuple(Vh.shape))}


def logistic_fit(epochs=200):
    data = load_breast_cancer()
    X = torch.tensor(standardize(data.data), dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.float32)
    model = nn.Sequential(nn.Linear(X.shape[1], 1), nn.Flatten(0))
    nn.init.zeros_(model[0].weight)
    nn.init.zeros_(model[0].bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        probs = torch.sigmoid(model(X))
        accuracy = ((probs > 0.5).float() == y).float().mean().item()
    return {"loss": loss.item(), "accuracy": accuracy}


class TheModelClass(nn.Module):
    def __init__(self, n_features, hidden=8):
        super().__init__()
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc2 = nn.Linear(hidden, 1)
        for p in self.parameters():  # deterministic start: a fixed ramp of values
            with torch.no_grad():
                p.copy_(torch.linspace(-0.3, 0.3, p.numel()).view_as(p))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def save_and_load(X, y, out_dir, epochs=20):
    """The saving-and-loading tutorial: a general checkpoint to resume training, the entire model,
    several models in one file, and warm-starting a different model with strict=False."""
    X_t = torch.tensor(X, dtype=torch.float32)
    y_t = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
    criterion = nn.MSELoss()

    def train(model, optimizer, scheduler, epochs_):
        for _ in range(epochs_):
            optimizer.zero_grad()
            loss = criterion(model(X_t), y_t)
            loss.backward()
            optimizer.step()
            scheduler.step()
        return loss

    def fresh():
        model = TheModelClass(X.shape[1])
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
        return model, optimizer, scheduler

    # straight through
    model, optimizer, scheduler = fresh()
    train(model, optimizer, scheduler, epochs)
    straight = model.fc2.weight.detach().clone()

    # half, checkpoint, resume in new objects, the other half
    model, optimizer, scheduler = fresh()
    loss = train(model, optimizer, scheduler, epochs // 2)
    path = os.path.join(out_dir, "checkpoint.tar")
    torch.save({"epoch": epochs // 2, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "scheduler_state_dict": scheduler.state_dict(),
                "loss": loss}, path)
    model, optimizer, scheduler = fresh()
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    epoch, saved_loss = checkpoint["epoch"], checkpoint["loss"]
    model.train()
    train(model, optimizer, scheduler, epochs - epoch)
    resumed_equal = torch.allclose(model.fc2.weight, straight, rtol=1e-6, atol=1e-7)

    # several models in one file, and warm-starting a bigger model from a smaller one's weights
    netA, netB = TheModelClass(X.shape[1]), TheModelClass(X.shape[1], hidden=4)
    many = os.path.join(out_dir, "many.pt")
    torch.save({"modelA_state_dict": netA.state_dict(), "modelB_state_dict": netB.state_dict()}, many)
    both = torch.load(many, weights_only=True)
    netB2 = TheModelClass(X.shape[1], hidden=4)
    netB2.load_state_dict(both["modelB_state_dict"])
    warm = nn.Sequential()
    warm.add_module("fc1", nn.Linear(X.shape[1], 8))
    result = warm.load_state_dict({k: v for k, v in both["modelA_state_dict"].items() if k.startswith("fc1")} |
                                  {"extra.weight": torch.zeros(1)}, strict=False)

    # the entire model, pickled with its class
    whole = os.path.join(out_dir, "model.pt")
    torch.save(model, whole)
    model2 = torch.load(whole, weights_only=False)
    model2.eval()
    with torch.no_grad():
        whole_equal = torch.equal(model2(X_t), model(X_t))
    return {"saved": (epoch, saved_loss.item()), "resumed_equal": resumed_equal,
            "final_weight": model.fc2.weight.view(-1).tolist(),
            "netB": torch.equal(netB2.fc1.weight, netB.fc1.weight),
            "warm": (sorted(result.missing_keys), sorted(result.unexpected_keys),
                     torch.equal(warm.fc1.weight, netA.fc1.weight)),
            "whole_model": whole_equal}


def main(out_dir=None):
    diabetes = load_diabetes()
    X = standardize(diabetes.data)
    y = (diabetes.target - diabetes.target.mean()) / diabetes.target.std()
    model, history, last_lr = sgd_fit(X, y)

    out_dir = out_dir or tempfile.mkdtemp()
    path = os.path.join(out_dir, "linear.pt")
    torch.save(model.state_dict(), path)
    reloaded = LinearRegression(X.shape[1])
    reloaded.load_state_dict(torch.load(path))
    X_t = torch.tensor(X, dtype=torch.float32)
    with torch.no_grad():
        same = torch.equal(model(X_t), reloaded(X_t))
    keys = list(reloaded.state_dict().keys())
    return {
        "sgd_history": history,
        "sgd_weight": model.linear.weight.detach().view(-1).tolist(),
        "last_lr": last_lr,
        "reloaded": (same, keys),
        "lbfgs": lbfgs_fit(X, y),
        "closed_form": closed_form_and_pca(X, y),
        "logistic": logistic_fit(),
        "save_and_load": save_and_load(X, y, out_dir),
    }


if __name__ == "__main__":
    result = main()
    print("SGD loss", result["sgd_history"][-1], "L-BFGS", result["lbfgs"], "logistic", result["logistic"])
