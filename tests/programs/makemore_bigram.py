"""makemore, part 1: a bigram character model of names, by counting and as a one-layer network.

The names are made up from syllables by Python's own seeded `random`, so both frameworks see the
same words; counting and the counted model's likelihood are deterministic.
"""
import random

import shendu as torch
import shendu.nn.functional as F


def make_words(n=400, seed=42):
    rng = random.Random(seed)
    onsets = ["b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "j", "sh", "ch", ""]
    vowels = ["a", "e", "i", "o", "u", "y", "ae", "ia"]
    codas = ["", "", "n", "l", "r", "s", "x"]
    words = []
    for _ in range(n):
        k = rng.choice([1, 2, 2, 3])
        words.append("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(k)))
    return words


def main(steps=100):
    words = make_words()
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    V = len(stoi)

    # counting bigrams, one x[i, j] += 1 at a time as the lecture does
    N = torch.zeros((V, V), dtype=torch.int32)
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1, ix2 = stoi[ch1], stoi[ch2]
            N[ix1, ix2] += 1

    P = (N + 1).float()
    P /= P.sum(1, keepdims=True)

    g = torch.Generator().manual_seed(2147483647)
    samples = []
    for _ in range(10):
        out = []
        ix = 0
        while True:
            p = P[ix]
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        samples.append("".join(out))

    log_likelihood = 0.0
    n = 0
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            logprob = torch.log(P[stoi[ch1], stoi[ch2]])
            log_likelihood += logprob
            n += 1
    count_nll = (-log_likelihood / n).item()

    # the same model as a single linear layer on one-hot inputs, trained by gradient descent
    xs, ys = [], []
    for w in words:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    xs = torch.tensor(xs)
    ys = torch.tensor(ys)
    num = xs.nelement()

    g = torch.Generator().manual_seed(2147483647)
    W = torch.randn((V, V), generator=g, requires_grad=True)
    losses = []
    for _k in range(steps):
        xenc = F.one_hot(xs, num_classes=V).float()
        logits = xenc @ W
        counts = logits.exp()
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
        losses.append(loss.item())
        W.grad = None
        loss.backward()
        W.data += -50 * W.grad

    # the counted table and the learned one should agree on the most likely successor of each char
    learned = F.softmax(W.detach(), dim=1)
    agree = (learned.argmax(1) == P.argmax(1)).float().mean().item()

    g = torch.Generator().manual_seed(2147483647)
    nn_samples = []
    for _ in range(5):
        out = []
        ix = 0
        while True:
            xenc = F.one_hot(torch.tensor([ix]), num_classes=V).float()
            p = (xenc @ W).exp()
            p = p / p.sum(1, keepdims=True)
            ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        nn_samples.append("".join(out))
    return {
        "vocab": V,
        "n_bigrams": num,
        "counts": N.view(-1).tolist(),
        "count_dtype": N.dtype == torch.int32,
        "count_nll": count_nll,
        "samples": samples,
        "losses": losses,
        "agree": agree,
        "nn_samples": nn_samples,
    }


if __name__ == "__main__":
    result = main()
    print("count nll", result["count_nll"], "nn loss", result["losses"][-1], "agree", result["agree"])
    print(result["samples"], result["nn_samples"])
