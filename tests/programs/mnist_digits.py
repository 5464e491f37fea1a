"""pytorch/examples' MNIST script and the quickstart tutorial, on scikit-learn's bundled 8x8 digits.

argparse settings, `torch.accelerator` device selection, a Dataset subclass with a transform, a
conv net with dropout and log_softmax trained by Adadelta under StepLR, the quickstart's
nn.Sequential model with its train/test loops and a state_dict save/load; then "What is torch.nn
really?": logistic regression by hand, refactored into nn.Module, optim, DataLoader and a CNN; and
the FGSM adversarial-example tutorial against the trained conv net.
"""
import argparse
import math
import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits

import shendu as torch
import shendu.nn as nn
import shendu.nn.functional as F
import shendu.optim as optim
from shendu.optim.lr_scheduler import StepLR
from shendu.utils.data import DataLoader, Dataset, TensorDataset


class Digits(Dataset):
    def __init__(self, train=True, transform=None):
        digits = load_digits()
        images = digits.images.astype(np.float32) / 16.0
        split = int(0.8 * len(images))
        sl = slice(0, split) if train else slice(split, None)
        self.images, self.targets = images[sl], digits.target[sl]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        image = torch.from_numpy(self.images[idx]).unsqueeze(0)  # (1, 8, 8)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[idx])


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, image):
        return (image - self.mean) / self.std


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(128, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0 and args.verbose:
            seen = batch_idx * len(data)
            print(f"Train Epoch: {epoch} [{seen}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")
        if args.dry_run:
            break
    return sum(losses) / len(losses)


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return test_loss, correct / len(test_loader.dataset)


def fgsm_attack(image, epsilon, data_grad):
    sign_data_grad = data_grad.sign()
    perturbed_image = image + epsilon * sign_data_grad
    perturbed_image = torch.clamp(perturbed_image, 0, 1)
    return perturbed_image


def denorm(batch, mean=(0.3,), std=(0.4,)):
    if isinstance(mean, tuple):
        mean = torch.tensor(mean).to(batch.device)
    if isinstance(std, tuple):
        std = torch.tensor(std).to(batch.device)
    return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)


def adversarial(model, device, test_loader, epsilon):
    """The FGSM tutorial: perturb each correctly classified test image along the sign of its gradient."""
    correct = 0
    adv_examples = []
    model.eval()
    for data, target in test_loader:
        data, target = data.to(device), target.to(device)
        data.requires_grad = True
        output = model(data)
        init_pred = output.max(1, keepdim=True)[1]  # index of the max log-probability
        if init_pred.item() != target.item():
            continue
        loss = F.nll_loss(output, target)
        model.zero_grad()
        loss.backward()
        data_grad = data.grad.data
        data_denorm = denorm(data)
        perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)
        perturbed_data_normalized = (perturbed_data - 0.3) / 0.4
        output = model(perturbed_data_normalized)
        final_pred = output.max(1, keepdim=True)[1]
        if final_pred.item() == target.item():
            correct += 1
        elif len(adv_examples) < 5:
            adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
            adv_examples.append((init_pred.item(), final_pred.item(), adv_ex.shape))
    return correct / float(len(test_loader)), adv_examples


def quickstart(device, train_dataloader, test_dataloader, out_dir, epochs=5):
    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(8 * 8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def train_loop(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if batch % 100 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                assert current <= size

    def test_loop(dataloader, model, loss_fn):
        model.eval()
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        return test_loss / num_batches, correct / size

    for _t in range(epochs):
        train_loop(train_dataloader, model, loss_fn, optimizer)
    result = test_loop(test_dataloader, model, loss_fn)

    path = os.path.join(out_dir, "model.pth")
    torch.save(model.state_dict(), path)
    model2 = NeuralNetwork().to(device)
    model2.load_state_dict(torch.load(path, weights_only=True))
    return result, test_loop(test_dataloader, model2, loss_fn) == result


def nn_really(x_train, y_train, x_valid, y_valid, dev):
    """"What is torch.nn really?": logistic regression by hand, then refactored step by step."""
    n, c = x_train.shape
    bs = 64
    lr = 0.5

    # from scratch, with weights that start at fixed values so the figures are deterministic
    weights = torch.linspace(-0.05, 0.05, c * 10).view(c, 10) / math.sqrt(c)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    loss_func = nll
    for _epoch in range(2):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)
            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
    scratch = (loss_func(model(x_valid), y_valid).item(), accuracy(model(x_valid), y_valid).item())
    # the same loss from F: the hand-written pieces and the library agree
    same_as_F = torch.allclose(F.cross_entropy(x_valid @ weights + bias, y_valid), loss_func(model(x_valid), y_valid))

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(c, 10)

        def forward(self, xb):
            return self.lin(xb)

    def loss_batch(model, loss_func, xb, yb, opt=None):
        loss = loss_func(model(xb), yb)
        if opt is not None:
            loss.backward()
            opt.step()
            opt.zero_grad()
        return loss.item(), len(xb)

    def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
        for _epoch in range(epochs):
            model.train()
            for xb, yb in train_dl:
                loss_batch(model, loss_func, xb, yb, opt)
            model.eval()
            with torch.no_grad():
                losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
            val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        return float(val_loss)

    def get_data(train_ds, valid_ds, bs):
        return (DataLoader(train_ds, batch_size=bs, shuffle=True), DataLoader(valid_ds, batch_size=bs * 2))

    class Lambda(nn.Module):
        def __init__(self, func):
            super().__init__()
            self.func = func

        def forward(self, x):
            return self.func(x)

    class WrappedDataLoader:
        def __init__(self, dl, func):
            self.dl = dl
            self.func = func

        def __len__(self):
            return len(self.dl)

        def __iter__(self):
            for b in self.dl:
                yield self.func(*b)

    def preprocess(x, y):
        return x.view(-1, 1, 8, 8).to(dev), y.to(dev)

    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)
    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    logistic = Mnist_Logistic()
    logistic_val = fit(5, logistic, F.cross_entropy, optim.SGD(logistic.parameters(), lr=lr), train_dl, valid_dl)

    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    cnn.to(dev)
    cnn_val = fit(8, cnn, F.cross_entropy, optim.SGD(cnn.parameters(), lr=0.1, momentum=0.9), train_dl, valid_dl)
    return {"scratch": scratch, "same_as_F": same_as_F, "logistic_val": logistic_val, "cnn_val": cnn_val}


def main(argv=(), out_dir=None):
    parser = argparse.ArgumentParser(description="PyTorch digits example")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N")
    parser.add_argument("--test-batch-size", type=int, default=200, metavar="N")
    parser.add_argument("--epochs", type=int, default=4, metavar="N")
    parser.add_argument("--lr", type=float, default=1.0, metavar="LR")
    parser.add_argument("--gamma", type=float, default=0.7, metavar="M")
    parser.add_argument("--no-accel", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument("--log-interval", type=int, default=10, metavar="N")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--save-model", action="store_true")
    args = parser.parse_args(list(argv))

    use_accel = not args.no_accel and torch.accelerator.is_available()
    torch.manual_seed(args.seed)
    if use_accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")

    train_kwargs = {"batch_size": args.batch_size}
    test_kwargs = {"batch_size": args.test_batch_size}
    if use_accel:
        accel_kwargs = {"num_workers": 1, "pin_memory": True, "shuffle": True}
        train_kwargs.update(accel_kwargs)
        test_kwargs.update(accel_kwargs)
    else:
        train_kwargs.update({"shuffle": True})

    transform = Normalize(0.3, 0.4)
    dataset1 = Digits(train=True, transform=transform)
    dataset2 = Digits(train=False, transform=transform)
    train_loader = DataLoader(dataset1, **train_kwargs)
    test_loader = DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    train_losses = []
    for epoch in range(1, args.epochs + 1):
        train_losses.append(train(args, model, device, train_loader, optimizer, epoch))
        scheduler.step()
    test_loss, accuracy = test(model, device, test_loader)

    attack_loader = DataLoader(dataset2, batch_size=1, shuffle=False)
    fgsm = [adversarial(model, device, attack_loader, eps)[0] for eps in (0.0, 0.1, 0.3)]

    out_dir = out_dir or tempfile.mkdtemp()
    if args.save_model:
        torch.save(model.state_dict(), os.path.join(out_dir, "mnist_cnn.pt"))
    (qs_loss, qs_accuracy), qs_reloaded_same = quickstart(device, train_loader, test_loader, out_dir)

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    x_train, y_train, x_valid, y_valid = map(torch.tensor, (x[:1400].numpy(), y[:1400].numpy(),
                                                            x[1400:].numpy(), y[1400:].numpy()))
    really = nn_really(x_train, y_train, x_valid, y_valid, device)
    return {**really, "fgsm": fgsm,"train_losses": train_losses, "test_loss": test_loss, "accuracy": accuracy,
            "lr": scheduler.get_last_lr()[0], "quickstart": (qs_loss, qs_accuracy, qs_reloaded_same)}


if __name__ == "__main__":
    import sys

    print(main(sys.argv[1:]))
