"""The loss of a nanoGPT checkpoint on a token-id sequence, with nanoGPT's GPT (test/fixtures/nanogpt/model.py).

Usage: [PATCHED_NANOGPT=DIR] /usr/bin/python3 test/reference/nanogpt_eval.py CKPT.pt IDS.json

Windows as gpt-lab eval takes them (eval_model.py): s = 0, T, 2T, ...; input x[s:s+T], targets x[s+1:s+T+1];
loss = summed cross-entropy / (n-1), in float64 (the model's float32 weights, widened). PATCHED_NANOGPT names a
folder with a patched copy of the fixture's model.py, for checkpoints with lm_head_bias.
Prints {"loss", "tokens", "iter_num"}.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get('PATCHED_NANOGPT') or os.path.join(ROOT, 'fixtures', 'nanogpt'))
from model import GPT, GPTConfig  # noqa: E402


def main(ckpt_path, ids_path):
    ckpt = torch.load(ckpt_path, map_location='cpu')
    model = GPT(GPTConfig(**ckpt['model_args']))
    state = {k[len('_orig_mod.'):] if k.startswith('_orig_mod.') else k: v for k, v in ckpt['model'].items()}
    model.load_state_dict(state)
    model = model.double().eval()
    with open(ids_path) as f:
        x = torch.tensor(json.load(f), dtype=torch.long)
    T, n = model.config.block_size, x.shape[0]
    total, count, s = torch.zeros((), dtype=torch.float64), 0, 0
    with torch.no_grad():
        while s + 1 < n:
            tgt = x[s + 1:s + T + 1]
            logits, _ = model(x[s:s + tgt.shape[0]][None, :])
            total = total + F.cross_entropy(logits[0], tgt, reduction='sum')
            count += tgt.shape[0]
            s += T
    print(json.dumps({'loss': float(total) / count, 'tokens': count, 'iter_num': int(ckpt['iter_num'])}))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
