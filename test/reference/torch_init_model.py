"""Writes a freshly PyTorch-initialised model (nanoGPT init) as an engine model file.

Usage: /usr/bin/python3 test/reference/torch_init_model.py OUT.safetensors --config JSON --vocab JSON
       [--tokenizer NAME] [--seed N] [--history JSON]

--config and --vocab take inline JSON or a path to a JSON file. The config holds the GPTConfig fields
(vocabSize may be omitted: it is then len(vocab)). The vocab is the model-id -> tokenizer-id list with null at 0.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptlab_ref import GPT, save_model  # noqa: E402


def json_arg(s):
    st = s.lstrip()
    if st.startswith('{') or st.startswith('[') or st == 'null':
        return json.loads(s)
    with open(s) as f:
        return json.load(f)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out')
    ap.add_argument('--config', required=True)
    ap.add_argument('--vocab', required=True)
    ap.add_argument('--tokenizer', default='char')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--history', default='[]')
    a = ap.parse_args(argv)
    cfg = json_arg(a.config)
    vocab = json_arg(a.vocab)
    cfg.setdefault('vocabSize', len(vocab))
    cfg.setdefault('dropout', 0)
    torch.manual_seed(a.seed)
    model = GPT(cfg)
    save_model(a.out, model, a.tokenizer, vocab, a.history)
    print(json.dumps({'out': a.out, 'parameters': sum(p.numel() for p in model.parameters())}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
