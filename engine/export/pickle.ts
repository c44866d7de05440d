// A small Python pickle writer (protocol 2, what torch.save uses by default): enough for checkpoints and nanoGPT's
// meta.pkl. Values are built from the classes below; a JS number is a Python int (a float must be said: PyFloat).
// The opcodes are those of CPython's Lib/pickle.py; no memo is written (the format does not need one), and strings
// are UTF-8 with lone surrogates passed through, as CPython's unpickler reads them ('surrogatepass').

export type PyKey = string | number;
export type PyValue = null | boolean | number | string | PyFloat | PyTuple | PyValue[] | PyDict | PyGlobal | PyCall | PyPersistent;

/** A Python float (a JS number alone is written as an int). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A dict, or a collections.OrderedDict; entries keep their order either way. */
export class PyDict {
  constructor(readonly entries: readonly (readonly [PyKey, PyValue])[], readonly ordered = false) {}
}

/** A module attribute: a class or function, e.g. torch.FloatStorage. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}

/** `module.name(*args)`, rebuilt at load: how tensors and OrderedDicts are pickled. */
export class PyCall {
  constructor(readonly fn: PyGlobal, readonly args: readonly PyValue[]) {}
}

/** A persistent id the unpickler resolves itself (torch.load: a storage record in the zip). */
export class PyPersistent {
  constructor(readonly id: PyValue) {}
}

const OP = {
  PROTO: 0x80, STOP: 0x2e, MARK: 0x28, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89,
  BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47, BINUNICODE: 0x58,
  EMPTY_TUPLE: 0x29, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, TUPLE: 0x74,
  EMPTY_LIST: 0x5d, APPENDS: 0x65, EMPTY_DICT: 0x7d, SETITEMS: 0x75,
  GLOBAL: 0x63, REDUCE: 0x52, BINPERSID: 0x51,
} as const;

/** Items per APPENDS / SETITEMS batch, as CPython's pickler batches them. */
const BATCH = 1000;

/** UTF-8 of a JS string, with lone surrogates encoded as their own 3 bytes (Python's 'surrogatepass'). */
export function utf8SurrogatePass(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Buffer.from(out);
}

class Writer {
  private readonly chunks: Buffer[] = [];

  byte(...b: number[]): void {
    this.chunks.push(Buffer.from(b));
  }

  bytes(b: Buffer): void {
    this.chunks.push(b);
  }

  int(n: number): void {
    if (!Number.isSafeInteger(n)) throw new Error(`pickle: ${n} is not a whole number; wrap floats in PyFloat`);
    if (n >= 0 && n < 256) return this.byte(OP.BININT1, n);
    if (n >= 0 && n < 65536) return this.byte(OP.BININT2, n & 255, n >> 8);
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = OP.BININT;
      b.writeInt32LE(n, 1);
      return this.bytes(b);
    }
    // LONG1: little-endian two's complement, as short as holds the sign
    const digits: number[] = [];
    let v = BigInt(n);
    for (;;) {
      const byte = Number(v & 255n);
      digits.push(byte);
      v >>= 8n;
      if ((v === 0n && byte < 128) || (v === -1n && byte >= 128)) break;
    }
    this.byte(OP.LONG1, digits.length, ...digits);
  }

  value(x: PyValue): void {
    if (x === null) return this.byte(OP.NONE);
    if (x === true) return this.byte(OP.NEWTRUE);
    if (x === false) return this.byte(OP.NEWFALSE);
    if (typeof x === 'number') return this.int(x);
    if (typeof x === 'string') {
      const s = utf8SurrogatePass(x);
      const head = Buffer.alloc(5);
      head[0] = OP.BINUNICODE;
      head.writeUInt32LE(s.length, 1);
      this.bytes(head);
      return this.bytes(s);
    }
    if (x instanceof PyFloat) {
      const b = Buffer.alloc(9);
      b[0] = OP.BINFLOAT;
      b.writeDoubleBE(x.value, 1);
      return this.bytes(b);
    }
    if (x instanceof PyTuple) return this.tuple(x.items);
    if (Array.isArray(x)) {
      this.byte(OP.EMPTY_LIST);
      for (let i = 0; i < x.length; i += BATCH) {
        this.byte(OP.MARK);
        for (const item of x.slice(i, i + BATCH)) this.value(item);
        this.byte(OP.APPENDS);
      }
      return;
    }
    if (x instanceof PyDict) {
      if (x.ordered) this.call(new PyCall(new PyGlobal('collections', 'OrderedDict'), []));
      else this.byte(OP.EMPTY_DICT);
      for (let i = 0; i < x.entries.length; i += BATCH) {
        this.byte(OP.MARK);
        for (const [k, v] of x.entries.slice(i, i + BATCH)) {
          this.value(k);
          this.value(v);
        }
        this.byte(OP.SETITEMS);
      }
      return;
    }
    if (x instanceof PyGlobal) return this.global(x);
    if (x instanceof PyCall) return this.call(x);
    if (x instanceof PyPersistent) {
      this.value(x.id);
      return this.byte(OP.BINPERSID);
    }
    throw new Error(`pickle: cannot write ${String(x)}`);
  }

  private tuple(items: readonly PyValue[]): void {
    if (items.length === 0) return this.byte(OP.EMPTY_TUPLE);
    if (items.length <= 3) {
      for (const item of items) this.value(item);
      return this.byte([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
    }
    this.byte(OP.MARK);
    for (const item of items) this.value(item);
    this.byte(OP.TUPLE);
  }

  private global(g: PyGlobal): void {
    if (/[\n]/.test(g.module + g.name)) throw new Error('pickle: a global name cannot hold a newline');
    this.byte(OP.GLOBAL);
    this.bytes(Buffer.from(`${g.module}\n${g.name}\n`, 'utf8'));
  }

  private call(c: PyCall): void {
    this.global(c.fn);
    this.tuple(c.args);
    this.byte(OP.REDUCE);
  }

  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The pickle of one value, protocol 2. */
export function pickle(value: PyValue): Buffer {
  const w = new Writer();
  w.byte(OP.PROTO, 2);
  w.value(value);
  w.byte(OP.STOP);
  return w.done();
}
