#!/usr/bin/env python3
"""The PyTorch side of the loss-curve parity run (bench/parity.js): AdamW training from an engine model file.

usage: /usr/bin/python3 bench/torch_parity.py MODEL.safetensors BATCHES.i32 SETTINGS_JSON

BATCHES.i32: int32 little-endian, steps x 2 x B x T (inputs then targets for each step, in order).
SETTINGS_JSON: {"B", "T", "steps", "lr", "minLr", "warmup", "scheduleSteps", "beta1", "beta2", "eps", "weightDecay",
"gradClip", "threads"}. Step t (0-based) uses lr_at(t, lr, minLr, warmup, scheduleSteps) (test/reference/gptlab_ref.py,
the engine's learningRateAt), clip_grad_norm_(gradClip) and torch.optim.AdamW over every parameter, in float32 as the
engine (or float64 with "dtype": "float64"). Prints one JSON line: {"losses": [...], "gradNorms": [...], "lrs": [...], "ms": total milliseconds}.
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'test', 'reference'))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gptlab_ref import load_model, loss_fn, lr_at  # noqa: E402


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, batches_path, settings_json = argv
    s = json.loads(settings_json)
    torch.set_num_threads(int(s.get('threads', 1)))
    torch.manual_seed(0)
    B, T, steps = int(s['B']), int(s['T']), int(s['steps'])
    raw = np.fromfile(batches_path, dtype='<i4').reshape(-1, 2, B, T)
    if raw.shape[0] < steps:
        raise ValueError(f'{batches_path} holds {raw.shape[0]} batches, {steps} steps asked')
    dtype = torch.float64 if s.get('dtype') == 'float64' else torch.float32  # float64: the control run, free of float32 rounding
    model, _ = load_model(model_path, dtype=dtype)
    model.train()  # dropout is 0 in the parity config
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=s['lr'], betas=(s['beta1'], s['beta2']), eps=s['eps'], weight_decay=s['weightDecay'])
    losses, norms, lrs = [], [], []
    t0 = time.perf_counter()
    for t in range(steps):
        x = torch.from_numpy(raw[t, 0].astype(np.int64))
        y = torch.from_numpy(raw[t, 1].astype(np.int64))
        lr = lr_at(t, s['lr'], s['minLr'], s['warmup'], s['scheduleSteps'])
        for g in opt.param_groups:
            g['lr'] = lr
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if s['gradClip'] > 0:
            gn = float(torch.nn.utils.clip_grad_norm_(params, s['gradClip']))
        else:
            gn = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)))
        opt.step()
        losses.append(float(loss.item()))
        norms.append(gn)
        lrs.append(lr)
        if (t + 1) % 25 == 0 or t + 1 == steps:
            print(f'torch ({dtype}) step {t + 1}/{steps} loss {losses[-1]:.4f}', file=sys.stderr, flush=True)
    ms = (time.perf_counter() - t0) * 1000.0
    print(json.dumps({'losses': losses, 'gradNorms': norms, 'lrs': lrs, 'ms': ms}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
