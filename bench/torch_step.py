#!/usr/bin/env python3
"""One side of the GPT Lab benchmark: PyTorch AdamW steps on an engine model file.

usage: /usr/bin/python3 bench/torch_step.py MODEL.safetensors BATCHES.i32 JSON_SETTINGS
BATCHES.i32: int32 little-endian, n x 2 x B x T (inputs then targets per batch).
Prints one JSON line: {"times_ms": [...], "losses": [...], "grad_norms": [...], "peak_rss_mb", "threads", ...}.
"""
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'test', 'reference'))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gptlab_ref import load_model, loss_fn  # noqa: E402


def main():
    model_path, batches_path, settings_json = sys.argv[1:4]
    s = json.loads(settings_json)
    torch.set_num_threads(int(s['threads']))
    torch.manual_seed(0)
    B, T = int(s['B']), int(s['T'])
    raw = np.fromfile(batches_path, dtype='<i4').reshape(-1, 2, B, T)
    batches = [(torch.from_numpy(b[0].astype(np.int64)), torch.from_numpy(b[1].astype(np.int64))) for b in raw]
    model, _ = load_model(model_path, dtype=torch.float32)
    model.train()
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=s['lr'], betas=(s['beta1'], s['beta2']), eps=s['eps'],
                            weight_decay=s['weightDecay'])
    times, losses, norms = [], [], []
    steps = int(s['warmup']) + int(s['steps'])
    for i in range(steps):
        x, y = batches[i % len(batches)]
        t0 = time.perf_counter()
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, s['gradClip']) if s['gradClip'] > 0 else torch.tensor(0.0)
        opt.step()
        lv = float(loss.item())
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= int(s['warmup']):
            times.append(dt)
        losses.append(lv)
        norms.append(float(gn))
    print(json.dumps({
        'times_ms': times,
        'losses': losses,
        'grad_norms': norms,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'parameters': sum(p.numel() for p in params),
    }))


if __name__ == '__main__':
    main()
