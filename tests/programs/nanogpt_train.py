"""nanoGPT's train.py and sample.py, shrunk to a few hundred iterations of a character model.

The data is prepared as nanoGPT's prepare.py does (uint16 token files read back through
np.memmap, a meta.pkl vocabulary); the loop has gradient accumulation, a cosine learning-rate
schedule with warm-up, a GradScaler (disabled unless training in float16, as on CPU) and the
autocast context on accelerators, gradient clipping through the scaler, checkpoints saved on a
new best validation loss, a resume from the checkpoint and sampling. The model is char_gpt's
(nanoGPT's model.py), with flash attention wherever the framework offers it.
"""
import inspect
import math
import os
import pickle
import re
import tempfile
import time
from contextlib import nullcontext

import numpy as np
from char_gpt import GPT, GPTConfig, make_text  # the sibling program is our model.py

import shendu as torch


def prepare(data_dir):
    data = make_text()
    chars = sorted(list(set(data)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    n = len(data)
    train_ids = np.array([stoi[c] for c in data[: int(n * 0.9)]], dtype=np.uint16)
    val_ids = np.array([stoi[c] for c in data[int(n * 0.9):]], dtype=np.uint16)
    train_ids.tofile(os.path.join(data_dir, "train.bin"))
    val_ids.tofile(os.path.join(data_dir, "val.bin"))
    with open(os.path.join(data_dir, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)


def configure_optimizers(model, weight_decay, learning_rate, betas, device_type):
    param_dict = {pn: p for pn, p in model.named_parameters()}
    param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
    # every 2-D parameter decays (matmul weights, embeddings); biases and layernorm weights don't
    decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
    nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
    optim_groups = [
        {"params": decay_params, "weight_decay": weight_decay},
        {"params": nodecay_params, "weight_decay": 0.0},
    ]
    fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
    use_fused = fused_available and device_type == "cuda"
    extra_args = dict(fused=True) if use_fused else dict()
    optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
    return optimizer, (sum(p.numel() for p in decay_params), sum(p.numel() for p in nodecay_params))


def main(out_dir=None, max_iters=240, resume_iters=60):
    out_dir = out_dir or tempfile.mkdtemp()
    eval_interval = 60
    eval_iters = 8
    log_interval = 20
    log = []  # what train.py prints
    gradient_accumulation_steps = 2
    batch_size = 8
    block_size = 32
    n_layer, n_head, n_embd, dropout, bias = 2, 4, 48, 0.0, False
    learning_rate = 3e-3
    weight_decay = 1e-1
    beta1, beta2 = 0.9, 0.99
    grad_clip = 1.0
    decay_lr = True
    warmup_iters = 20
    lr_decay_iters = max_iters
    min_lr = 3e-4
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "bfloat16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "float32"
    compile = False  # torch.compile needs a compiler toolchain; nanoGPT's CPU recipe turns it off

    seed_offset = 0
    torch.manual_seed(1337 + seed_offset)
    torch.backends.cuda.matmul.allow_tf32 = True  # allow tf32 on matmul
    torch.backends.cudnn.allow_tf32 = True  # allow tf32 on cudnn
    device_type = "cuda" if "cuda" in device else "cpu"
    ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    ctx = nullcontext() if device_type == "cpu" else torch.amp.autocast(device_type=device_type, dtype=ptdtype)

    data_dir = os.path.join(out_dir, "data")
    os.makedirs(data_dir, exist_ok=True)
    prepare(data_dir)

    def get_batch(split):
        # recreate np.memmap every batch to avoid a memory leak, as nanoGPT does
        data = np.memmap(os.path.join(data_dir, f"{split}.bin"), dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
        if device_type == "cuda":
            x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        else:
            x, y = x.to(device), y.to(device)
        return x, y

    with open(os.path.join(data_dir, "meta.pkl"), "rb") as f:
        meta = pickle.load(f)
    meta_vocab_size = meta["vocab_size"]

    model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias,
                      vocab_size=meta_vocab_size, dropout=dropout, flash=None)
    model = GPT(GPTConfig(**model_args))
    model.to(device)
    scaler = torch.amp.GradScaler(device_type, enabled=(dtype == "float16"))
    optimizer, (n_decay, n_nodecay) = configure_optimizers(model, weight_decay, learning_rate, (beta1, beta2),
                                                           device_type)
    if compile:
        model = torch.compile(model)
    raw_model = model

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                with ctx:
                    logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        assert 0 <= decay_ratio <= 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
        return min_lr + coeff * (learning_rate - min_lr)

    def train(iter_num, stop_at, best_val_loss, history):
        X, Y = get_batch("train")  # fetch the very first batch
        t0 = time.time()
        while True:
            lr = get_lr(iter_num) if decay_lr else learning_rate
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            if iter_num % eval_interval == 0:
                losses = estimate_loss()
                log.append(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
                history.append((iter_num, losses["train"].item(), losses["val"].item()))
                if losses["val"] < best_val_loss:
                    best_val_loss = losses["val"]
                    if iter_num > 0:
                        checkpoint = {
                            "model": raw_model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "model_args": model_args,
                            "iter_num": iter_num,
                            "best_val_loss": best_val_loss,
                            "config": {"learning_rate": learning_rate, "batch_size": batch_size},
                        }
                        torch.save(checkpoint, os.path.join(out_dir, "ckpt.pt"))
            if iter_num == stop_at:
                return best_val_loss
            for _micro_step in range(gradient_accumulation_steps):
                with ctx:
                    logits, loss = model(X, Y)
                    loss = loss / gradient_accumulation_steps
                X, Y = get_batch("train")  # prefetch the next batch while the model computes
                scaler.scale(loss).backward()
            if grad_clip != 0.0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            t1 = time.time()
            dt, t0 = t1 - t0, t1
            if iter_num % log_interval == 0:
                lossf = loss.item() * gradient_accumulation_steps
                log.append(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms")
            iter_num += 1

    history = []
    best_val_loss = train(0, max_iters, 1e9, history)

    # init_from = "resume": a fresh model and optimizer from the checkpoint, trained on
    ckpt_path = os.path.join(out_dir, "ckpt.pt")
    checkpoint = torch.load(ckpt_path, map_location=device)
    checkpoint_model_args = checkpoint["model_args"]
    for k in ["n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size"]:
        model_args[k] = checkpoint_model_args[k]
    model = GPT(GPTConfig(**model_args))
    state_dict = checkpoint["model"]
    unwanted_prefix = "_orig_mod."
    for k, _v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
    model.load_state_dict(state_dict)
    model.to(device)
    raw_model = model
    optimizer, _ = configure_optimizers(model, weight_decay, learning_rate, (beta1, beta2), device_type)
    optimizer.load_state_dict(checkpoint["optimizer"])
    iter_num = checkpoint["iter_num"]
    resumed_from = (iter_num, float(checkpoint["best_val_loss"]))
    checkpoint = None  # free up memory
    resumed_history = []
    train(iter_num, iter_num + resume_iters, best_val_loss, resumed_history)

    # sample.py
    model.eval()
    stoi, itos = meta["stoi"], meta["itos"]
    encode = lambda s: [stoi[c] for c in s]  # noqa: E731
    decode = lambda ll: "".join([itos[i] for i in ll])  # noqa: E731
    start_ids = encode("two little")
    x = torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...]
    samples = []
    with torch.no_grad():
        with ctx:
            for _k in range(2):
                y = model.generate(x, 40, temperature=0.8, top_k=10)
                samples.append(decode(y[0].tolist()))
    model.crop_block_size(16)  # as train.py does when asked for a smaller block_size than the checkpoint's
    with torch.no_grad():
        cropped = decode(model.generate(x, 30, temperature=0.8, top_k=10)[0].tolist())
    crop_shapes = (tuple(model.transformer.wpe.weight.shape), model.config.block_size,
                   [tuple(b.attn.bias.shape) for b in model.transformer.h if hasattr(b.attn, "bias")] in
                   ([], [(1, 1, 16, 16)] * n_layer))
    return {
        "params": (n_decay, n_nodecay),
        "groups": [len(g["params"]) for g in optimizer.param_groups],
        "history": history,
        "resumed_from_iter": resumed_from[0],
        "resumed_history": resumed_history,
        "best_val": float(best_val_loss),
        "samples": samples,
        "log": [re.sub(r"\d+\.\d+", "#", line) for line in log],  # the losses vary, the lines must not
        "cropped": (len(cropped), cropped.startswith("two little")),
        "crop_shapes": crop_shapes,
        "lr_schedule": [get_lr(it) for it in (0, 10, 20, 100, 239, 500)],
    }


if __name__ == "__main__":
    print(main())
