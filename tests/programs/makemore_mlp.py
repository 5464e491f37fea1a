"""makemore, parts 2-4: an MLP character model (Bengio et al. 2003) with batch norm written out,
a manual check of the cross-entropy gradient, and sampling. Words come from Python's seeded random.
"""
import random

from makemore_bigram import make_words  # a sibling program: the same synthetic names

import shendu as torch
import shendu.nn.functional as F

block_size = 3  # context length: how many characters we take to predict the next one


def build_dataset(words, stoi):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


def main(max_steps=3000, batch_size=32):
    words = make_words(n=800, seed=7)
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    vocab_size = len(itos)

    random.seed(42)
    random.shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1], stoi)
    Xdev, Ydev = build_dataset(words[n1:n2], stoi)
    Xte, Yte = build_dataset(words[n2:], stoi)

    n_embd = 10
    n_hidden = 100
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.01
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.01
    b2 = torch.randn(vocab_size, generator=g) * 0
    bngain = torch.ones((1, n_hidden))
    bnbias = torch.zeros((1, n_hidden))
    bnmean_running = torch.zeros((1, n_hidden))
    bnstd_running = torch.ones((1, n_hidden))

    parameters = [C, W1, b1, W2, b2, bngain, bnbias]
    n_params = sum(p.nelement() for p in parameters)
    for p in parameters:
        p.requires_grad = True

    lossi = []
    grad_check = None
    for i in range(max_steps):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
        Xb, Yb = Xtr[ix], Ytr[ix]

        emb = C[Xb]  # embed the characters into vectors
        embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
        hpreact = embcat @ W1 + b1
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True)
        hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
        with torch.no_grad():
            bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
            bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        if i == 0:
            logits.retain_grad()
        loss = F.cross_entropy(logits, Yb)

        for p in parameters:
            p.grad = None
        loss.backward()

        if i == 0:  # backprop ninja: the cross-entropy gradient by hand
            n = Yb.shape[0]
            dlogits = F.softmax(logits, 1)
            dlogits[range(n), Yb] -= 1
            dlogits /= n
            grad_check = (torch.allclose(dlogits, logits.grad, atol=1e-7),
                          (dlogits - logits.grad).abs().max().item())

        lr = 0.1 if i < max_steps * 3 // 4 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        lossi.append(loss.log10().item())

    @torch.no_grad()
    def split_loss(x, y):
        emb = C[x]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ W1 + b1
        hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        return F.cross_entropy(logits, y).item()

    losses = {"train": split_loss(Xtr, Ytr), "val": split_loss(Xdev, Ydev), "test": split_loss(Xte, Yte)}

    g = torch.Generator().manual_seed(2147483647 + 10)
    samples = []
    for _ in range(10):
        out = []
        context = [0] * block_size
        while True:
            emb = C[torch.tensor([context])]
            hpreact = emb.view(1, -1) @ W1 + b1
            hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
            h = torch.tanh(hpreact)
            logits = h @ W2 + b2
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0 or len(out) > 30:
                break
        samples.append("".join(itos[i] for i in out))
    return {"n_params": n_params, "shapes": (tuple(Xtr.shape), tuple(Xdev.shape), tuple(Xte.shape)),
            "grad_check": grad_check, "first_loss": 10 ** lossi[0], "losses": losses, "samples": samples}


if __name__ == "__main__":
    print(main())
