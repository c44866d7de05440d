#!/usr/bin/env python3
"""One side of the GPT Lab benchmark: PyTorch AdamW steps on an engine model file.

usage: /usr/bin/python3 bench/torch_step.py MODEL.safetensors BATCHES.i32 JSON_SETTINGS
       /usr/bin/python3 bench/torch_step.py --blas     which BLAS this process's torch loads, as one JSON line
BATCHES.i32: int32 little-endian, n x 2 x B x T (inputs then targets per batch).
Prints one JSON line: {"times_ms": [...], "losses": [...], "grad_norms": [...], "peak_rss_mb", "threads",
"blas": {"kind", "libs"}, ...}. blas is read from /proc/self/maps after the steps ran: the libraries the measured
process really mapped, whatever torch.__config__ says (Debian's torch is BLAS_INFO=generic and takes whatever
libblas.so.3 the alternatives or LD_LIBRARY_PATH point at; the reference one is ~30x slower than OpenBLAS).
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


def blas_kind(path):
    p = path.lower()
    for kind in ('openblas', 'mkl', 'blis', 'atlas'):
        if kind in p:
            return kind
    if 'libblas.so' in p or 'libcblas.so' in p:
        return 'reference'  # Debian's netlib libblas3 (/usr/lib/<triplet>/blas/libblas.so.3.x)
    return None


def loaded_blas():
    """The BLAS libraries mapped into this process (call after a matmul, so that a lazily loaded one shows)."""
    libs = []
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and blas_kind(parts[-1]) and parts[-1] not in libs:
                    libs.append(parts[-1])
    except OSError:
        return {'kind': 'unknown', 'libs': [], 'config': torch.__config__.show().split('BLAS_INFO=')[-1].split(',')[0]}
    kinds = [blas_kind(p) for p in libs]
    # An optimised BLAS anywhere in the process wins the symbol lookups only if it was loaded as libblas.so.3; the
    # reference library mapped alongside it means it was not.
    kind = 'reference' if 'reference' in kinds else (kinds[0] if kinds else 'none')
    return {'kind': kind, 'libs': libs, 'config': torch.__config__.show().split('BLAS_INFO=')[-1].split(',')[0]}


def main():
    if sys.argv[1:2] == ['--blas']:
        a = torch.randn(64, 64)
        float((a @ a).sum())
        print(json.dumps({'blas': loaded_blas(), 'torch': torch.__version__}))
        return
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
    warmup = int(s['warmup'])
    steps = warmup + int(s['steps'])
    threads = int(s['threads'])
    # Like the engine's trainers (which time whole steps at all threads and at one, and keep the faster), pick
    # torch's thread count from timed warm-up steps: on a shared machine OpenMP's barriers at 2 threads can make a
    # step 20x slower than one thread. Probe steps update the model like the others (and count as warm-up).
    probe = {}
    candidates = [threads, 1] if threads > 1 and s.get('autoThreads', True) else [threads]
    schedule = [c for c in candidates for _ in range(2)] if len(candidates) > 1 else []

    def one_step(i):
        x, y = batches[i % len(batches)]
        t0 = time.perf_counter()
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, s['gradClip']) if s['gradClip'] > 0 else torch.tensor(0.0)
        opt.step()
        lv = float(loss.item())
        return (time.perf_counter() - t0) * 1000.0, lv, float(gn)

    i = 0
    for _ in range(warmup):
        _, lv, gn = one_step(i)
        losses.append(lv)
        norms.append(gn)
        i += 1
    for c in schedule:
        torch.set_num_threads(c)
        dt, _, _ = one_step(i)
        probe[c] = min(probe.get(c, dt), dt)
        i += 1
    if probe:
        torch.set_num_threads(min(probe, key=probe.get))
    for _ in range(int(s['steps'])):
        dt, lv, gn = one_step(i)
        times.append(dt)
        losses.append(lv)
        norms.append(gn)
        i += 1
    print(json.dumps({
        'times_ms': times,
        'losses': losses,
        'grad_norms': norms,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'threads': torch.get_num_threads(),
        'thread_probe_ms': {str(k): round(v, 1) for k, v in probe.items()},
        'torch': torch.__version__,
        'parameters': sum(p.numel() for p in params),
        'blas': loaded_blas(),
    }))


if __name__ == '__main__':
    main()
