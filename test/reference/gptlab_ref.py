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
               'positions', 'tieEmbeddings', 'bias', 'qkvBias', 'dropout']

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
    cfg = json.loads(meta['gptlab.config'])
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


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg['dim']
        self.H = cfg['heads']
        self.c_attn = nn.Linear(D, 3 * D, bias=cfg['qkvBias'])
        self.c_proj = nn.Linear(D, D, bias=cfg['bias'])
        self.dropout = cfg['dropout']

    def forward(self, x):
        B, T, D = x.shape
        H, hs = self.H, D // self.H
        q, k, v = self.c_attn(x).split(D, dim=-1)
        q = q.view(B, T, H, hs).transpose(1, 2)
        k = k.view(B, T, H, hs).transpose(1, 2)
        v = v.view(B, T, H, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
        att = att.masked_fill(~mask, float('-inf'))
        att = F.softmax(att, dim=-1)
        probs = att
        att = F.dropout(att, self.dropout, self.training)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, D)
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
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = make_norm(cfg)
        self.attn = Attention(cfg)
        self.ln_2 = make_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x):
        a, probs = self.attn(self.ln_1(x))
        x = x + a
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
        cfg = {k: cfg[k] for k in CONFIG_KEYS}
        self.cfg = cfg
        V, T, D = cfg['vocabSize'], cfg['contextLength'], cfg['dim']
        tr = {'wte': nn.Embedding(V, D)}
        if cfg['positions'] == 'learned':
            tr['wpe'] = nn.Embedding(T, D)
        elif cfg['positions'] != 'sinusoidal':
            raise ValueError(cfg['positions'])
        tr['h'] = nn.ModuleList([Block(cfg) for _ in range(cfg['layers'])])
        tr['ln_f'] = make_norm(cfg)
        self.transformer = nn.ModuleDict(tr)
        self.lm_head = Head(cfg)
        self.init_weights()

    def init_weights(self):
        """nanoGPT: normal(0, 0.02); c_proj weights normal(0, 0.02/sqrt(2N)); biases 0; norm weights 1."""
        res_std = 0.02 / math.sqrt(2 * self.cfg['layers'])
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
        if 'wpe' in self.transformer:
            x = x + self.transformer.wpe.weight[:T]
        else:
            x = x + sinusoidal_positions(T, self.cfg['dim'], wte.dtype).to(wte.device)
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
