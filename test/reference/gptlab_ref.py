"""PyTorch reference implementation of the GPT Lab engine.

Pure PyTorch 1.13 + numpy (run with /usr/bin/python3). Parameter names and layouts
match engine/params.ts exactly, so `GPT(config).load_state_dict(read_safetensors(path)[0])`
works on an engine model file without any renaming.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG_KEYS = ['vocabSize', 'contextLength', 'dim', 'heads', 'layers', 'ffnMult', 'norm', 'activation',
               'positions', 'tieEmbeddings', 'bias', 'qkvBias', 'dropout', 'kvHeads', 'headDim', 'qkNorm']
ROPE_BASE = 10000.0
NORM_EPS = 1e-5


def with_defaults(cfg):
    """A config with the keys older model files lack, as those files meant them (engine/model/config.ts's
    withConfigDefaults): qkvBias as bias, no dropout, one key/value head per query head, heads of D/H, no QK-norm."""
    full = {'qkvBias': cfg.get('bias', True), 'dropout': 0, 'kvHeads': cfg['heads'], 'headDim': cfg['dim'] // cfg['heads'],
            'qkNorm': False}
    full.update(cfg)
    return {k: full[k] for k in CONFIG_KEYS}

# ----------------------------------------------------------------------------------------------
# safetensors by hand (numpy only)

_DTYPES = {
    'F64': np.dtype('<f8'), 'F32': np.dtype('<f4'), 'F16': np.dtype('<f2'),
    'I64': np.dtype('<i8'), 'I32': np.dtype('<i4'), 'I16': np.dtype('<i2'), 'I8': np.dtype('i1'),
    'U8': np.dtype('u1'), 'BOOL': np.dtype('?'),
}


def read_safetensors(path):
    """Returns ({name: torch.Tensor}, {metadata str: str})."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        dt = _DTYPES[info['dtype']]
        b, e = info['data_offsets']
        arr = np.frombuffer(data[base + b:base + e], dtype=dt).reshape(info['shape'])
        tensors[name] = torch.from_numpy(arr.astype(dt.newbyteorder('='), copy=True))
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor/ndarray} as F32 (sorted names, contiguous), with string metadata."""
    names = sorted(tensors)
    header = {}
    if metadata is not None:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in names:
        t = tensors[name]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().to(torch.float64).numpy()
        arr = np.ascontiguousarray(np.asarray(t, dtype=np.float64).astype('<f4'))
        raw = arr.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hb += b' ' * ((-len(hb)) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)))
        f.write(hb)
        for raw in blobs:
            f.write(raw)


def config_json(cfg):
    return json.dumps({k: cfg[k] for k in CONFIG_KEYS}, separators=(',', ':'))


def model_metadata(cfg, tokenizer='char', vocab=None, history='[]'):
    """The engine model file's __metadata__. vocab: list of length vocabSize, vocab[0] = None (unknown)."""
    if vocab is None:
        vocab = char_vocab(cfg['vocabSize'])
    if len(vocab) != cfg['vocabSize']:
        raise ValueError(f'vocab has {len(vocab)} entries, config.vocabSize is {cfg["vocabSize"]}')
    return {
        'gptlab.format': '1',
        'gptlab.config': config_json(cfg),
        'gptlab.tokenizer': tokenizer,
        'gptlab.vocab': json.dumps(vocab, separators=(',', ':')),
        'gptlab.history': history,
    }


def char_vocab(V):
    """[null, 32, 33, ...]: model id i (i >= 1) is code point 31 + i."""
    return [None] + [31 + i for i in range(1, V)]


def save_model(path, model, tokenizer='char', vocab=None, history='[]'):
    write_safetensors(path, model.state_dict(), model_metadata(model.cfg, tokenizer, vocab, history))


def load_model(path, dtype=torch.float64):
    tensors, meta = read_safetensors(path)
    cfg = with_defaults(json.loads(meta['gptlab.config']))
    model = GPT(cfg)
    model.load_state_dict(tensors, strict=True)
    return model.to(dtype), meta


# ----------------------------------------------------------------------------------------------
# model

class LayerNorm(nn.Module):
    def __init__(self, d, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def make_norm(cfg):
    if cfg['norm'] == 'layernorm':
        return LayerNorm(cfg['dim'], cfg['bias'])
    if cfg['norm'] == 'rmsnorm':
        return RMSNorm(cfg['dim'])
    raise ValueError(cfg['norm'])


def rope_tables(T, hs, dtype=torch.float64):
    """cos and sin [T, hs/2] of t / 10000^(2i/hs), computed in float64."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    i2 = torch.arange(0, hs, 2, dtype=torch.float64)[None, :]
    angle = t / torch.pow(torch.tensor(ROPE_BASE, dtype=torch.float64), i2 / hs)
    return torch.cos(angle).to(dtype), torch.sin(angle).to(dtype)


def apply_rope(x, cos, sin):
    """Rotate-half RoPE (GPT-NeoX, Hugging Face LLaMA): pair (i, i + hs/2) of x [B, n, T, hs] turns by angle t * f_i.
    nanochat turns by the opposite angle; its model is this one with the second half of each q and k head negated."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def head_norm(x):
    """QK-norm: RMSNorm without a weight over each head (nanochat's norm(q), norm(k), with eps 1e-5)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS)


class Attention(nn.Module):
    """H query heads over KV key/value heads (query head h reads key/value head h // (H/KV)), each hs wide. c_attn's
    rows are q (H*hs), k (KV*hs), v (KV*hs); c_proj maps H*hs back to D."""

    def __init__(self, cfg):
        super().__init__()
        D = cfg['dim']
        self.H, self.KV, self.hs = cfg['heads'], cfg['kvHeads'], cfg['headDim']
        self.c_attn = nn.Linear(D, (self.H + 2 * self.KV) * self.hs, bias=cfg['qkvBias'])
        self.c_proj = nn.Linear(self.H * self.hs, D, bias=cfg['bias'])
        self.rope = cfg['positions'] == 'rope'
        self.qk_norm = cfg['qkNorm']
        self.dropout = cfg['dropout']

    def forward(self, x):
        B, T, D = x.shape
        H, KV, hs = self.H, self.KV, self.hs
        q, k, v = self.c_attn(x).split([H * hs, KV * hs, KV * hs], dim=-1)
        q = q.view(B, T, H, hs).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, KV, hs).transpose(1, 2)  # (B, KV, T, hs)
        v = v.view(B, T, KV, hs).transpose(1, 2)
        if self.rope:
            cos, sin = rope_tables(T, hs, x.dtype)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.qk_norm:  # after RoPE, as nanochat (a weightless RMSNorm commutes with a rotation)
            q, k = head_norm(q), head_norm(k)
        k = k.repeat_interleave(H // KV, dim=1)  # (B, H, T, hs)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
        att = att.masked_fill(~mask, float('-inf'))
        att = F.softmax(att, dim=-1)
        probs = att
        att = F.dropout(att, self.dropout, self.training)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, H * hs)
        y = F.dropout(self.c_proj(y), self.dropout, self.training)
        return y, probs


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, Fh = cfg['dim'], cfg['ffnMult'] * cfg['dim']
        self.c_fc = nn.Linear(D, Fh, bias=cfg['bias'])
        self.c_proj = nn.Linear(Fh, D, bias=cfg['bias'])
        self.act = cfg['activation']
        self.dropout = cfg['dropout']

    def forward(self, x):
        h = self.c_fc(x)
        h = F.relu(h) if self.act == 'relu' else F.gelu(h)
        return F.dropout(self.c_proj(h), self.dropout, self.training)


class Block(nn.Module):
    """Pre-norm block; with ffnMult 0 attention only (no ln_2, no mlp)."""

    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = make_norm(cfg)
        self.attn = Attention(cfg)
        if cfg['ffnMult'] > 0:
            self.ln_2 = make_norm(cfg)
            self.mlp = MLP(cfg)
        else:
            self.mlp = None

    def forward(self, x):
        a, probs = self.attn(self.ln_1(x))
        x = x + a
        if self.mlp is not None:
            x = x + self.mlp(self.ln_2(x))
        return x, probs


class Head(nn.Module):
    """lm_head: own weight unless tied (then no lm_head.weight key), bias iff config.bias."""

    def __init__(self, cfg):
        super().__init__()
        V, D = cfg['vocabSize'], cfg['dim']
        self.weight = None if cfg['tieEmbeddings'] else nn.Parameter(torch.empty(V, D))
        self.bias = nn.Parameter(torch.zeros(V)) if cfg['bias'] else None


def sinusoidal_positions(T, D, dtype=torch.float64):
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    j2 = torch.arange(0, D, 2, dtype=torch.float64)[None, :]
    ang = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), j2 / D)
    P = torch.zeros(T, D, dtype=torch.float64)
    P[:, 0::2] = torch.sin(ang)
    P[:, 1::2] = torch.cos(ang)
    return P.to(dtype)


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        cfg = with_defaults(cfg)
        self.cfg = cfg
        V, T, D = cfg['vocabSize'], cfg['contextLength'], cfg['dim']
        tr = {'wte': nn.Embedding(V, D)}
        if cfg['positions'] == 'learned':
            tr['wpe'] = nn.Embedding(T, D)
        elif cfg['positions'] not in ('sinusoidal', 'rope', 'none'):
            raise ValueError(cfg['positions'])
        tr['h'] = nn.ModuleList([Block(cfg) for _ in range(cfg['layers'])])
        tr['ln_f'] = make_norm(cfg)
        self.transformer = nn.ModuleDict(tr)
        self.lm_head = Head(cfg)
        self.init_weights()

    def init_weights(self):
        """nanoGPT: normal(0, 0.02); c_proj weights normal(0, 0.02/sqrt(residual branches: 2N, or N without MLPs));
        biases 0; norm weights 1."""
        res_std = 0.02 / math.sqrt((2 if self.cfg['ffnMult'] > 0 else 1) * self.cfg['layers'])
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith('c_proj.weight'):
                    nn.init.normal_(p, 0.0, res_std)
                elif '.ln_' in name or name.startswith('transformer.ln_f'):
                    if name.endswith('.weight'):
                        p.fill_(1.0)
                    else:
                        p.zero_()
                elif name.endswith('.bias'):
                    p.zero_()
                else:
                    nn.init.normal_(p, 0.0, 0.02)

    def head_weight(self):
        return self.transformer.wte.weight if self.lm_head.weight is None else self.lm_head.weight

    def head(self, x):
        """lm_head(ln_f(x))."""
        x = self.transformer.ln_f(x)
        logits = x @ self.head_weight().t()
        if self.lm_head.bias is not None:
            logits = logits + self.lm_head.bias
        return logits

    def forward(self, idx, return_attn=False, return_residuals=False):
        B, T = idx.shape
        wte = self.transformer.wte.weight
        x = self.transformer.wte(idx)
        if self.cfg['positions'] == 'learned':
            x = x + self.transformer.wpe.weight[:T]
        elif self.cfg['positions'] == 'sinusoidal':
            x = x + sinusoidal_positions(T, self.cfg['dim'], wte.dtype).to(wte.device)
        # rope turns q and k inside attention; none adds nothing
        x = F.dropout(x, self.cfg['dropout'], self.training)
        residuals = [x]
        attns = []
        for block in self.transformer.h:
            x, probs = block(x)
            residuals.append(x)
            attns.append(probs)
        logits = self.head(x)
        if not (return_attn or return_residuals):
            return logits
        out = [logits]
        if return_attn:
            out.append(attns)
        if return_residuals:
            out.append(residuals)
        return tuple(out)

    def logit_lens(self, residuals):
        """[N+1, B, T, V]: lm_head(ln_f(r_l)) for r_0 (embeddings) .. r_N (last block)."""
        return torch.stack([self.head(r) for r in residuals])


def loss_fn(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ----------------------------------------------------------------------------------------------
# training schedule and sampling

def lr_at(t, lr, min_lr, warmup, steps):
    """Learning rate for 0-based step t: linear warm-up, then cosine decay to min_lr."""
    if t < warmup:
        return lr * (t + 1) / warmup
    ratio = (t - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def sampling_probs(logits, temperature=1.0, top_k=0, top_p=1.0):
    """Final sampling distribution for one logit vector (float64). top_k 0 / top_p 1 disable the filters."""
    z = torch.as_tensor(logits, dtype=torch.float64) / temperature
    V = z.shape[-1]
    if top_k and 0 < top_k < V:
        kth = torch.topk(z, top_k).values[-1]
        z = z.masked_fill(z < kth, float('-inf'))
    if top_p < 1.0:
        p = F.softmax(z, dim=-1)
        sp, order = torch.sort(p, descending=True)
        cum = torch.cumsum(sp, dim=-1)
        keep = int((cum < top_p).sum().item()) + 1  # smallest prefix with cumulative >= top_p
        keep = max(1, min(keep, V))
        remove = order[keep:]
        z = z.clone()
        z[remove] = float('-inf')
    return F.softmax(z, dim=-1)
