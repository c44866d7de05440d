"""Regenerates test/fixtures/reference/*.safetensors (deterministic). Run: /usr/bin/python3 test/reference/make_fixtures.py"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gptlab_ref import GPT, loss_fn, lr_at, sampling_probs, save_model, with_defaults, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'reference')

BASE = dict(vocabSize=97, contextLength=16, dim=48, heads=4, layers=2, ffnMult=4, dropout=0)
VARIANTS = {
    'classic': dict(norm='layernorm', activation='relu', positions='learned', tieEmbeddings=False, bias=True, qkvBias=False),
    'gpt2': dict(norm='layernorm', activation='gelu', positions='learned', tieEmbeddings=True, bias=True, qkvBias=True),
    'rms_sin': dict(norm='rmsnorm', activation='gelu', positions='sinusoidal', tieEmbeddings=False, bias=False, qkvBias=False),
    # grouped-query attention (2 key/value heads for 4 query heads), rotary positions, a bias on c_attn (rotated too)
    'gqa_rope': dict(norm='layernorm', activation='gelu', positions='rope', tieEmbeddings=True, bias=True, qkvBias=True,
                     kvHeads=2),
    # multi-query attention (one key/value head), no positions at all (NoPE), QK-norm
    'mqa_nope_qknorm': dict(norm='rmsnorm', activation='relu', positions='none', tieEmbeddings=False, bias=False,
                            qkvBias=True, kvHeads=1, qkNorm=True),
    # nanochat's attention: RoPE then QK-norm, grouped queries, no biases; heads wider than D/H (4 x 16 = 64 > 48)
    'rope_qknorm_wide': dict(norm='rmsnorm', activation='gelu', positions='rope', tieEmbeddings=False, bias=False,
                             qkvBias=False, kvHeads=2, headDim=16, qkNorm=True),
    # attention-only blocks (no MLP, no ln_2), heads narrower than D/H (4 x 8 = 32 < 48)
    'attn_only_narrow': dict(norm='layernorm', activation='gelu', positions='learned', tieEmbeddings=False, bias=True,
                             qkvBias=False, ffnMult=0, headDim=8),
}
B = 4
STEP = dict(lr=1e-3, minLr=1e-4, warmup=4, steps=10, t=2, gradClip=1.0, beta1=0.9, beta2=0.999, eps=1e-8, weightDecay=0.01)
ATTN_STD = 0.2  # c_attn weights: larger than nanoGPT's 0.02 so attention patterns are far from uniform


def fixture_model(cfg, seed):
    torch.manual_seed(seed)
    model = GPT(cfg)  # float32, nanoGPT init
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('c_attn.weight'):
                p.normal_(0.0, ATTN_STD)
            elif ('.ln_' in name) and name.endswith('.weight'):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith('.bias'):
                p.copy_(0.1 * torch.randn_like(p))
    return model


def make_variant(name, seed):
    cfg = with_defaults(dict(BASE, **VARIANTS[name]))
    model = fixture_model(cfg, seed)
    save_model(os.path.join(OUT, f'{name}.model.safetensors'), model)

    model = model.double()
    model.train()  # dropout is 0, so train/eval are identical
    g = torch.Generator().manual_seed(seed + 1000)
    V, T = cfg['vocabSize'], cfg['contextLength']
    idx = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)

    logits, attns, residuals = model(idx, return_attn=True, return_residuals=True)
    loss = loss_fn(logits, targets)
    with torch.no_grad():
        lens = model.logit_lens(residuals)
    model.zero_grad()
    loss.backward()
    params = dict(model.named_parameters())
    grads = {n: p.grad.detach().clone() for n, p in params.items()}
    grad_norm = float(torch.sqrt(sum((gr ** 2).sum() for gr in grads.values())))

    hp = dict(STEP)
    if grad_norm <= hp['gradClip']:
        hp['gradClip'] = 0.5 * grad_norm  # make sure clipping triggers
    hp['gradNorm'] = grad_norm
    hp['lrT'] = lr_at(hp['t'], hp['lr'], hp['minLr'], hp['warmup'], hp['steps'])

    total = torch.nn.utils.clip_grad_norm_(list(model.parameters()), hp['gradClip'])
    assert abs(float(total) - grad_norm) < 1e-9 * max(1.0, grad_norm)
    opt = torch.optim.AdamW(model.parameters(), lr=hp['lrT'], betas=(hp['beta1'], hp['beta2']), eps=hp['eps'],
                            weight_decay=hp['weightDecay'])
    opt.step()

    out = {'idx': idx.double(), 'targets': targets.double(), 'logits': logits.detach(), 'loss': loss.detach().reshape(1),
           'lens': lens}
    for i, a in enumerate(attns):
        out[f'attn.{i}'] = a.detach()
    for n, gr in grads.items():
        out[f'grad.{n}'] = gr
    for n, p in params.items():
        out[f'step.{n}'] = p.detach()
    meta = {'gptlab.fixture': json.dumps(hp), 'gptlab.config': json.dumps(cfg)}
    write_safetensors(os.path.join(OUT, f'{name}.expected.safetensors'), out, meta)
    print(f'{name}: loss {loss.item():.6f} grad norm {grad_norm:.6f} gradClip {hp["gradClip"]:.6f} lr_t {hp["lrT"]:.6g}')


SAMPLING = [
    dict(temperature=1.0, topK=0, topP=1.0),
    dict(temperature=0.7, topK=0, topP=1.0),
    dict(temperature=1.0, topK=10, topP=1.0),
    dict(temperature=1.0, topK=0, topP=0.9),
    dict(temperature=0.8, topK=20, topP=0.8),
    dict(temperature=1.3, topK=5, topP=0.5),
]


def make_sampling(seed):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(97, generator=g, dtype=torch.float64) * 3.0).float().double()  # exact F32 values
    out = {'logits': logits}
    for i, s in enumerate(SAMPLING):
        out[f'probs.{i}'] = sampling_probs(logits, s['temperature'], s['topK'], s['topP'])
    write_safetensors(os.path.join(OUT, 'sampling.expected.safetensors'), out, {'gptlab.fixture': json.dumps(SAMPLING)})
    print('sampling: kept', [int((out[f'probs.{i}'] > 0).sum()) for i in range(len(SAMPLING))])


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    for i, name in enumerate(VARIANTS):
        make_variant(name, 1234 + 17 * i)
    make_sampling(4321)


if __name__ == '__main__':
    main()
