"""Evaluates an engine model file on a token-id sequence with the PyTorch reference (float64).

Usage: /usr/bin/python3 test/reference/eval_model.py MODEL.safetensors IDS.json [--write-check]

IDS.json is a JSON array of model token ids x[0..n-1]. Windows start at s = 0, T, 2T, ...: input x[s:s+T],
targets x[s+1:s+T+1] (the last window may be shorter; a window needs at least one target).
Prints {"loss": summed cross-entropy / (n-1), "tokens": n-1}.
--write-check also loads the file, writes it back with the reference writer to a temporary file and checks the
tensors and metadata survive the round trip (exercises the safetensors reader/writer on an engine-written file).
"""
import json
import os
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptlab_ref import load_model, read_safetensors, write_safetensors  # noqa: E402


def eval_loss(model, ids):
    T = model.cfg['contextLength']
    x = torch.tensor(ids, dtype=torch.long)
    n = x.shape[0]
    if n < 2:
        raise ValueError('need at least two tokens')
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    model.eval()
    with torch.no_grad():
        s = 0
        while s + 1 < n:
            inp = x[s:s + T]
            tgt = x[s + 1:s + T + 1]
            inp = inp[:tgt.shape[0]]
            logits = model(inp[None, :])[0]
            total = total + F.cross_entropy(logits.double(), tgt, reduction='sum')
            count += tgt.shape[0]
            s += T
    assert count == n - 1
    return float(total) / count, count


def write_check(path):
    tensors, meta = read_safetensors(path)
    with tempfile.TemporaryDirectory() as d:
        p2 = os.path.join(d, 'rt.safetensors')
        write_safetensors(p2, tensors, meta)
        t2, m2 = read_safetensors(p2)
    assert m2 == meta, 'metadata changed in round trip'
    assert sorted(t2) == sorted(tensors), 'tensor names changed in round trip'
    for k in tensors:
        assert torch.equal(tensors[k].float(), t2[k]), f'tensor {k} changed in round trip'
    return True


def main(argv):
    args = [a for a in argv if not a.startswith('--')]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    model_path, ids_path = args
    model, _meta = load_model(model_path, torch.float64)
    with open(ids_path) as f:
        ids = json.load(f)
    V = model.cfg['vocabSize']
    if any((not isinstance(i, int)) or i < 0 or i >= V for i in ids):
        raise ValueError(f'ids must be integers in [0, {V})')
    loss, tokens = eval_loss(model, ids)
    out = {'loss': loss, 'tokens': tokens}
    if '--write-check' in argv:
        out['writeCheck'] = write_check(model_path)
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
