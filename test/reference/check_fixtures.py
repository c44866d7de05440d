"""Regenerates the reference fixtures into a temporary directory and checks them against the committed ones in
test/fixtures/reference/ (the generator is deterministic).

Usage: /usr/bin/python3 test/reference/check_fixtures.py [--keep DIR] [--strict]
--keep DIR  writes the regenerated files to DIR (created if needed) instead of a temporary directory, and leaves them.
--strict    requires byte-identical files.

Byte identity depends on the BLAS kernels: a few gradients are exactly zero in exact arithmetic (c_attn's key bias:
softmax ignores a per-row constant), so their float64 values are pure rounding noise (~1e-19) whose bits depend on the
BLAS core type. The committed files were made with OpenBLAS's Sandybridge kernels, so this script pins
OPENBLAS_CORETYPE=Sandybridge unless the variable is already set; with it the files come out byte-identical on an
AVX-512 machine too. Without --strict a file that differs only by such noise (every value within 1e-15 absolute, metadata numbers
within 1e-12 relative) is
reported and accepted. Exit status 1 when a file is missing or differs by more.
"""
import hashlib
import json
import os
import sys
import tempfile

os.environ.setdefault('OPENBLAS_CORETYPE', 'Sandybridge')  # read when torch loads OpenBLAS, so before the import

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402
from gptlab_ref import read_safetensors  # noqa: E402

NOISE = 1e-15

COMMITTED = make_fixtures.OUT


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def close_json(x, y):
    """Equal JSON values, numbers within 1e-12 relative (the last bit of a float64 sum may differ)."""
    if isinstance(x, bool) or isinstance(y, bool) or isinstance(x, str) or x is None:
        return x == y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return abs(x - y) <= 1e-12 * max(abs(x), abs(y))
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(close_json(u, v) for u, v in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return sorted(x) == sorted(y) and all(close_json(x[k], y[k]) for k in x)
    return False


def close_metadata(ma, mb):
    if sorted(ma) != sorted(mb):
        return False
    for k in ma:
        if ma[k] == mb[k]:
            continue
        try:
            if not close_json(json.loads(ma[k]), json.loads(mb[k])):
                return False
        except ValueError:
            return False
    return True


def numeric_diff(a, b):
    """Largest absolute difference over all tensors, or None when the names, shapes or metadata differ."""
    ta, ma = read_safetensors(a)
    tb, mb = read_safetensors(b)
    if not close_metadata(ma, mb) or sorted(ta) != sorted(tb) or any(ta[k].shape != tb[k].shape for k in ta):
        return None
    return max(float((ta[k].double() - tb[k].double()).abs().max()) if ta[k].numel() else 0.0 for k in ta)


def check(out_dir, strict):
    make_fixtures.OUT = out_dir
    make_fixtures.main()
    fresh = sorted(f for f in os.listdir(out_dir) if f.endswith('.safetensors'))
    committed = sorted(f for f in os.listdir(COMMITTED) if f.endswith('.safetensors'))
    ok = True
    for name in sorted(set(fresh) | set(committed)):
        a, b = os.path.join(out_dir, name), os.path.join(COMMITTED, name)
        if not os.path.exists(b):
            print(f'  {name}: generated but not committed')
            ok = False
        elif not os.path.exists(a):
            print(f'  {name}: committed but no longer generated')
            ok = False
        elif sha(a) != sha(b):
            d = numeric_diff(a, b)
            if d is not None and d <= NOISE and not strict:
                print(f'  {name}: not byte-identical, but every value is within {d:.1e} (rounding noise; accepted)')
            else:
                print(f'  {name}: DIFFERS from the committed file (max abs difference {d})')
                ok = False
        else:
            print(f'  {name}: identical ({sha(a)[:16]})')
    return ok


def main(argv):
    strict = '--strict' in argv
    if '--keep' in argv:
        i = argv.index('--keep')
        if i + 1 >= len(argv):
            print(__doc__, file=sys.stderr)
            return 2
        out_dir = os.path.abspath(argv[i + 1])
        os.makedirs(out_dir, exist_ok=True)
        for f in os.listdir(out_dir):  # no stale files from an earlier run
            if f.endswith('.safetensors'):
                os.remove(os.path.join(out_dir, f))
        ok = check(out_dir, strict)
    else:
        with tempfile.TemporaryDirectory(prefix='gptlab-fixtures-') as d:
            ok = check(d, strict)
    print(f'fixtures: regenerated files match the committed ones (OPENBLAS_CORETYPE={os.environ.get("OPENBLAS_CORETYPE")})' if ok else
          'fixtures: MISMATCH (run test/reference/make_fixtures.py and review the change)')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
