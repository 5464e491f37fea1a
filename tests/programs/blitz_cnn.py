"""The 60-minute blitz, parts 3 and 4: a small LeNet-style CNN, then training a classifier.

The images are random noise with a bright square in the quadrant that names the class, so the
classifier has something to learn without any download. Runs on the GPU when one is available.
Then the transfer-learning tutorial's fine-tuning recipe on the trained network.
"""
import copy
import os
import tempfile

import shendu as torch
import shendu.nn as nn
import shendu.nn.functional as F
import shendu.optim as optim
from shendu.utils.data import DataLoader, TensorDataset

classes = ("top-left", "top-right", "bottom-left", "bottom-right")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, len(classes))

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def make_images(n, generator):
    images = 0.5 * torch.randn(n, 3, 32, 32, generator=generator)
    labels = torch.randint(0, len(classes), (n,), generator=generator)
    for c in range(len(classes)):
        row, col = divmod(c, 2)
        sel = labels == c
        images[sel, :, row * 16 + 4:row * 16 + 12, col * 16 + 4:col * 16 + 12] += 0.8
    return images, labels


def neural_networks_part():
    """Define the network, one backward pass, and the manual update rule, as the blitz does."""
    net = Net()
    params = list(net.parameters())
    inp = torch.randn(1, 3, 32, 32)
    out = net(inp)
    net.zero_grad()
    out.backward(torch.randn(1, len(classes)))

    output = net(inp)
    target = torch.randn(len(classes)).view(1, -1)
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    chain = [type(loss.grad_fn).__name__, type(loss.grad_fn.next_functions[0][0]).__name__]

    net.zero_grad()
    before = net.conv1.bias.grad
    loss.backward()
    after = net.conv1.bias.grad
    learning_rate = 0.01
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    return {
        "printed": str(net),
        "n_params": len(params),
        "shapes": [tuple(p.size()) for p in params],
        "numel": sum(p.numel() for p in params),
        "out_shape": tuple(out.shape),
        "grad_chain_len": len(chain),
        "bias_grad_cleared": before is None or bool((before == 0).all()),
        "bias_grad_after": tuple(after.shape),
    }


def finetune(model, device, images, labels, num_epochs=3):
    """The transfer-learning tutorial's recipe: freeze the trained features, replace the head with a
    new one for another task (top half vs bottom half), train only the head, keep the best weights."""
    for param in model.parameters():
        param.requires_grad = False
    num_ftrs = model.fc3.in_features
    model.fc3 = nn.Linear(num_ftrs, 2)  # parameters of a new module require grad by default
    model = model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer_conv = optim.SGD(model.fc3.parameters(), lr=0.01, momentum=0.9)
    exp_lr_scheduler = optim.lr_scheduler.StepLR(optimizer_conv, step_size=2, gamma=0.1)

    targets = (labels >= 2).long()  # classes 2, 3 have the square in the bottom half
    datasets = {"train": TensorDataset(images[:384], targets[:384]), "val": TensorDataset(images[384:], targets[384:])}
    dataloaders = {x: DataLoader(datasets[x], batch_size=16, shuffle=x == "train") for x in ["train", "val"]}
    dataset_sizes = {x: len(datasets[x]) for x in ["train", "val"]}

    best_model_wts = copy.deepcopy(model.state_dict())
    best_acc = 0.0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for _epoch in range(num_epochs):
        for phase in ["train", "val"]:
            if phase == "train":
                model.train()
            else:
                model.eval()
            running_loss = 0.0
            running_corrects = 0
            for inputs, labels_ in dataloaders[phase]:
                inputs = inputs.to(device)
                labels_ = labels_.to(device)
                optimizer_conv.zero_grad()
                with torch.set_grad_enabled(phase == "train"):
                    outputs = model(inputs)
                    _, preds = torch.max(outputs, 1)
                    loss = criterion(outputs, labels_)
                    if phase == "train":
                        loss.backward()
                        optimizer_conv.step()
                running_loss += loss.item() * inputs.size(0)
                running_corrects += torch.sum(preds == labels_.data)
            if phase == "train":
                exp_lr_scheduler.step()
            epoch_acc = running_corrects.double() / dataset_sizes[phase]
            if phase == "val" and epoch_acc > best_acc:
                best_acc = epoch_acc
                best_model_wts = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_model_wts)
    frozen_unchanged = not model.conv1.weight.requires_grad and model.conv1.weight.grad is None
    return {"trainable": trainable, "best_acc": best_acc.item(), "frozen": frozen_unchanged,
            "lr": exp_lr_scheduler.get_last_lr()}


def main(out_dir=None, epochs=3):
    torch.manual_seed(0)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    parts = {"networks": neural_networks_part()}

    g = torch.Generator().manual_seed(1234)
    train_x, train_y = make_images(512, g)
    test_x, test_y = make_images(128, g)
    trainloader = DataLoader(TensorDataset(train_x, train_y), batch_size=16, shuffle=True, num_workers=0)
    testloader = DataLoader(TensorDataset(test_x, test_y), batch_size=32, shuffle=False)

    net = Net()
    net.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    epoch_losses = []
    for _epoch in range(epochs):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):  # noqa: B007  (i counts the batches below)
            inputs, labels = data[0].to(device), data[1].to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        epoch_losses.append(running_loss / (i + 1))

    out_dir = out_dir or tempfile.mkdtemp()
    path = os.path.join(out_dir, "cifar_net.pth")
    torch.save(net.state_dict(), path)

    net = Net()
    net.load_state_dict(torch.load(path, weights_only=True))
    net.to(device)
    net.eval()

    correct = 0
    total = 0
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for images, labels in testloader:
            images, labels = images.to(device), labels.to(device)
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            for label, prediction in zip(labels, predicted):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    per_class = {name: correct_pred[name] / max(total_pred[name], 1) for name in classes}
    transfer = finetune(net, device, train_x, train_y)
    transfer_acc = transfer.pop("best_acc")
    return {**parts, "transfer": transfer, "transfer_acc": transfer_acc, "epoch_losses": epoch_losses,
            "accuracy": correct / total, "per_class": per_class, "device": device.type}


if __name__ == "__main__":
    print(main())
