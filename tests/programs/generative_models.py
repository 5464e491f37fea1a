"""pytorch/examples' VAE and DCGAN, shrunk to scikit-learn's 8x8 digits.

The VAE: an MLP encoder to (mu, logvar), the reparameterisation trick with randn_like, a Bernoulli
decoder, binary cross-entropy plus the KL term summed over the batch. The DCGAN: a generator of
ConvTranspose2d + BatchNorm2d + ReLU, a discriminator of Conv2d + LeakyReLU(inplace) + BatchNorm2d,
DCGAN's weights_init applied by class name, two Adam optimizers with betas=(0.5, 0.999), real and
fake label tensors filled in place and the fake batch detached for the discriminator's step.
"""
import numpy as np
from sklearn.datasets import load_digits

import shendu as torch
import shendu.nn as nn
import shendu.nn.functional as F
import shendu.optim as optim
from shendu.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc21 = nn.Linear(128, 8)
        self.fc22 = nn.Linear(128, 8)
        self.fc3 = nn.Linear(8, 128)
        self.fc4 = nn.Linear(128, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    # see Appendix B of Kingma and Welling, "Auto-Encoding Variational Bayes" (2014)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def train_vae(images, device, epochs=10):
    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)
    epoch_losses = []
    for _epoch in range(epochs):
        model.train()
        train_loss = 0
        for (data,) in loader:
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        epoch_losses.append(train_loss / len(loader.dataset))
    model.eval()
    with torch.no_grad():
        sample = torch.randn(16, 8).to(device)
        sample = model.decode(sample).cpu()
        recon, mu, logvar = model(images[:16].to(device))
    return {"vae_losses": epoch_losses, "vae_sample": (tuple(sample.view(16, 1, 8, 8).shape),
                                                       bool(((sample >= 0) & (sample <= 1)).all())),
            "vae_recon_error": F.mse_loss(recon, images[:16].view(-1, 64)).item()}


nz, ngf, ndf, nc = 8, 16, 16, 1


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),  # (N, ngf*2, 4, 4)
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),  # (N, nc, 8, 8)
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),  # (N, ndf, 4, 4)
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # (N, ndf*2, 2, 2)
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 2, 1, 0, bias=False),  # (N, 1, 1, 1)
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def train_dcgan(images, device, epochs=6):
    netG = Generator().to(device)
    netG.apply(weights_init)
    netD = Discriminator().to(device)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, nz, 1, 1, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    dataloader = DataLoader(TensorDataset(images * 2 - 1), batch_size=64, shuffle=True, drop_last=True)
    real = images * 2 - 1
    with torch.no_grad():
        initial_gap = (netG(fixed_noise).mean(0) - real.mean(0)).abs().mean().item()

    G_losses, D_losses, D_x_history = [], [], []
    for _epoch in range(epochs):
        for data in dataloader:
            # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = data[0].to(device)
            b_size = real_cpu.size(0)
            label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b_size, nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            errD = errD_real + errD_fake
            optimizerD.step()
            # (2) update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            optimizerG.step()
            G_losses.append(errG.item())
            D_losses.append(errD.item())
            D_x_history.append(D_x)

    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    # a generator that learned something matches the digits' mean image better than it did at first
    mean_gap = (fake.mean(0) - real.mean(0)).abs().mean().item()
    return {"gan_shapes": tuple(fake.shape), "gan_finite": bool(np.isfinite(G_losses + D_losses).all()),
            "gan_mean_gap": (initial_gap, mean_gap),
            "gan_losses": (float(np.mean(D_losses[-10:])), float(np.mean(G_losses[-10:]))),
            "gan_fake_range": (fake.min().item() >= -1.0, fake.max().item() <= 1.0)}


def main():
    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    digits = load_digits()
    images = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)  # (N, 1, 8, 8)
    return {**train_vae(images, device), **train_dcgan(images, device)}


if __name__ == "__main__":
    print(main())
