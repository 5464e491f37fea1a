"""A character-level GPT in the style of minGPT and nanoGPT, trained for a few hundred steps.

Causal self-attention masked with a registered lower-triangular buffer, weight tying, GPT-2 style
initialisation through `module.apply`, AdamW with decay / no-decay parameter groups, an infinite
RandomSampler feeding a DataLoader (minGPT's trainer), nanoGPT's `get_batch` for evaluation,
gradient clipping, a checkpoint round trip and top-k sampling under `@torch.no_grad()`.
"""
import math
import os
import tempfile
from dataclasses import dataclass

import shendu as torch
import shendu.nn as nn
from shendu.nn import functional as F
from shendu.utils.data import Dataset
from shendu.utils.data.dataloader import DataLoader


@dataclass
class GPTConfig:
    block_size: int = 32
    vocab_size: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 48
    dropout: float = 0.0
    bias: bool = True
    flash: bool | None = False  # None: F.scaled_dot_product_attention where the framework has it (nanoGPT)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.flash = config.flash
        if self.flash is None:
            self.flash = hasattr(torch.nn.functional, "scaled_dot_product_attention")
        if not self.flash:
            # causal mask so that attention is only applied to the left in the input sequence
            self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                 .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if self.flash:
            y = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v  # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def crop_block_size(self, block_size):
        """nanoGPT's model surgery: a smaller block size than the one trained with."""
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])
        for block in self.transformer.h:
            if hasattr(block.attn, "bias"):
                block.attn.bias = block.attn.bias[:, :, :block_size, :block_size]

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of length {t} > block size {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=device)  # shape (t)
        tok_emb = self.transformer.wte(idx)  # (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])  # only the last position at inference time
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        """minGPT's split: weights of Linear layers decay; biases, LayerNorm and Embedding weights don't."""
        decay = set()
        no_decay = set()
        whitelist_weight_modules = (torch.nn.Linear,)
        blacklist_weight_modules = (torch.nn.LayerNorm, torch.nn.Embedding)
        for mn, m in self.named_modules():
            for pn, _p in m.named_parameters():
                fpn = f"{mn}.{pn}" if mn else pn
                if pn.endswith("bias"):
                    no_decay.add(fpn)
                elif pn.endswith("weight") and isinstance(m, whitelist_weight_modules):
                    decay.add(fpn)
                elif pn.endswith("weight") and isinstance(m, blacklist_weight_modules):
                    no_decay.add(fpn)
        # named_parameters() lists the tied weight once, as transformer.wte.weight: it does not decay
        param_dict = dict(self.named_parameters())
        decay &= param_dict.keys()
        inter_params = decay & no_decay
        union_params = decay | no_decay
        assert len(inter_params) == 0, f"parameters {inter_params} made it into both decay/no_decay sets!"
        assert len(param_dict.keys() - union_params) == 0, "parameters left out of both sets"
        optim_groups = [
            {"params": [param_dict[pn] for pn in sorted(decay)], "weight_decay": weight_decay},
            {"params": [param_dict[pn] for pn in sorted(no_decay)], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def make_text():
    """A small corpus with structure a tiny model can learn: short counting rhymes."""
    numbers = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    lines = []
    for i in range(len(numbers) - 1):
        lines.append(f"{numbers[i]} little cat, {numbers[i + 1]} little dogs.\n")
        lines.append(f"{numbers[i + 1]} dogs ran and {numbers[i]} cat sat.\n")
    return "".join(lines) * 6


class CharDataset(Dataset):
    def __init__(self, data, block_size):
        chars = sorted(list(set(data)))
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = {i: ch for i, ch in enumerate(chars)}
        self.block_size = block_size
        self.vocab_size = len(chars)
        self.data = data

    def __len__(self):
        return len(self.data) - self.block_size

    def __getitem__(self, idx):
        chunk = self.data[idx:idx + self.block_size + 1]
        dix = [self.stoi[s] for s in chunk]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        return x, y


def main(out_dir=None, max_iters=300, batch_size=16):
    torch.manual_seed(1337)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    text = make_text()
    train_dataset = CharDataset(text, block_size=32)
    data = torch.tensor([train_dataset.stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    val_data = data[n:]

    config = GPTConfig(block_size=32, vocab_size=train_dataset.vocab_size)
    model = GPT(config).to(device)
    n_params = model.get_num_params()
    mask_ok = bool((model.transformer.h[0].attn.bias[0, 0].triu(1) == 0).all())
    buffer_names = [name for name, _ in model.named_buffers()]
    tied = model.transformer.wte.weight is model.lm_head.weight
    init_std = model.transformer.h[0].mlp.c_fc.weight.std().item()
    proj_std = model.transformer.h[0].mlp.c_proj.weight.std().item()

    optimizer = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.95))
    group_sizes = [len(g["params"]) for g in optimizer.param_groups]
    train_loader = DataLoader(
        train_dataset,
        sampler=torch.utils.data.RandomSampler(train_dataset, replacement=True, num_samples=int(1e10)),
        shuffle=False, pin_memory=True, batch_size=batch_size, num_workers=0,
    )

    def get_batch(generator):
        ix = torch.randint(len(val_data) - config.block_size, (batch_size,), generator=generator)
        x = torch.stack([val_data[i:i + config.block_size] for i in ix])
        y = torch.stack([val_data[i + 1:i + 1 + config.block_size] for i in ix])
        return x.to(device), y.to(device)

    @torch.no_grad()
    def estimate_loss(eval_iters=5):
        model.eval()
        g = torch.Generator().manual_seed(0)
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = get_batch(g)
            _, loss = model(X, Y)
            losses[k] = loss.item()
        model.train()
        return losses.mean().item()

    initial_val = estimate_loss()
    model.train()
    data_iter = iter(train_loader)
    train_losses = []
    for it in range(max_iters):
        lr = 3e-3 * min(1.0, (it + 1) / 20)  # linear warm-up
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr
        try:
            batch = next(data_iter)
        except StopIteration:
            data_iter = iter(train_loader)
            batch = next(data_iter)
        x, y = (t.to(device) for t in batch)
        _logits, loss = model(x, y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        train_losses.append(loss.item())
    final_val = estimate_loss()

    out_dir = out_dir or tempfile.mkdtemp()
    ckpt_path = os.path.join(out_dir, "ckpt.pt")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "model_args": vars(config),
                "iter_num": max_iters}, ckpt_path)
    checkpoint = torch.load(ckpt_path, map_location=device)
    restored = GPT(GPTConfig(**checkpoint["model_args"]))
    restored.load_state_dict(checkpoint["model"])
    restored.eval()
    probe = data[:config.block_size].view(1, -1)
    same_logits = torch.allclose(restored(probe)[0], model(probe)[0])

    context = torch.tensor([[train_dataset.stoi[c] for c in "one little"]], dtype=torch.long, device=device)
    torch.manual_seed(0)
    generated = restored.generate(context, max_new_tokens=40, temperature=0.8, top_k=5)
    completion = "".join(train_dataset.itos[int(i)] for i in generated[0].tolist())
    return {
        "n_params": n_params, "mask_ok": mask_ok, "buffers": buffer_names, "tied": tied,
        "init_std": init_std, "proj_std": proj_std, "group_sizes": group_sizes,
        "initial_val": initial_val, "final_val": final_val, "last_train": sum(train_losses[-20:]) / 20,
        "checkpoint_iter": checkpoint["iter_num"], "same_logits": same_logits, "completion": completion,
    }


if __name__ == "__main__":
    print(main())
