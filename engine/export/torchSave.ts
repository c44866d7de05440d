// torch.save's file format, written without Python: a zip archive (entries stored, not compressed) whose records are
//   <name>/data.pkl      the pickled object; each tensor is torch._utils._rebuild_tensor_v2 over a persistent id
//                        ('storage', torch.FloatStorage, key, 'cpu', numel) that names a record below
//   <name>/byteorder     "little"
//   <name>/data/<key>    a storage's raw little-endian bytes, aligned to 64 bytes in the file as PyTorch aligns them
//   <name>/version       "3\n", the record format version torch.load 1.6 and later read
// as PyTorch's own writer (caffe2/serialize/inline_container.cc) lays them out. Tensors that share a storage (tied
// weights) name the same key, so torch.load gives them one storage, as torch.save's tie would.
import { PyCall, PyDict, PyGlobal, PyPersistent, PyTuple, pickle, type PyValue } from './pickle';

/** A float32 tensor to save; `storage` names the buffer it lives in (tensors with the same storage are tied). */
export class TorchTensor {
  constructor(readonly storage: string, readonly shape: readonly number[]) {}
}

/** A value torch.save can take: a pickle value in which TorchTensors may stand. */
export type TorchValue = PyValue | TorchTensor | TorchValue[] | TorchDict;

/** A dict (ordered: collections.OrderedDict, as a state_dict is) whose values may be tensors. */
export class TorchDict {
  constructor(readonly entries: readonly (readonly [string | number, TorchValue])[], readonly ordered = false) {}
}

const REBUILD_TENSOR = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
const FLOAT_STORAGE = new PyGlobal('torch', 'FloatStorage');

/** Row-major strides of a shape. */
function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

/**
 * The torch.save bytes of `value`; `storages` holds each storage key's float32 data. `name` is the archive's folder
 * (PyTorch uses the file's stem). Every tensor must fill its storage exactly.
 */
export function torchSave(value: TorchValue, storages: ReadonlyMap<string, Float32Array>, name = 'archive'): Buffer {
  const used = new Set<string>();
  const toPickle = (v: TorchValue): PyValue => {
    if (v instanceof TorchTensor) {
      const data = storages.get(v.storage);
      if (!data) throw new Error(`torch.save: no storage ${v.storage}`);
      const numel = v.shape.reduce((a, b) => a * b, 1);
      if (numel !== data.length) throw new Error(`torch.save: storage ${v.storage} holds ${data.length} values, not ${numel}`);
      used.add(v.storage);
      return new PyCall(REBUILD_TENSOR, [
        new PyPersistent(new PyTuple(['storage', FLOAT_STORAGE, v.storage, 'cpu', numel])),
        0, new PyTuple([...v.shape]), new PyTuple(contiguousStride(v.shape)), false,
        new PyCall(new PyGlobal('collections', 'OrderedDict'), []),
      ]);
    }
    if (v instanceof TorchDict) return new PyDict(v.entries.map(([k, x]) => [k, toPickle(x)] as const), v.ordered);
    if (Array.isArray(v)) return v.map(toPickle);
    return v;
  };
  const records: [string, Buffer][] = [['data.pkl', pickle(toPickle(value))], ['byteorder', Buffer.from('little')]];
  for (const key of [...used].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b))) {
    const d = storages.get(key)!;
    records.push([`data/${key}`, Buffer.from(d.buffer, d.byteOffset, d.byteLength)]); // the host is little-endian
  }
  records.push(['version', Buffer.from('3\n')]);
  return zipStored(records.map(([file, data]) => [`${name}/${file}`, data]), 64);
}

// ---- zip, stored (method 0), as APPNOTE.TXT describes it ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), the checksum zip readers verify. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A buffer of `size` bytes whose first fields are the given [width, value] pairs, little-endian, in order. */
function littleEndian(size: number, fields: readonly (readonly [2 | 4, number])[]): Buffer {
  const b = Buffer.alloc(size);
  let at = 0;
  for (const [width, value] of fields) {
    if (width === 2) b.writeUInt16LE(value, at);
    else b.writeUInt32LE(value, at);
    at += width;
  }
  return b;
}

/**
 * A zip archive of uncompressed entries. Each entry's data starts at a multiple of `align` bytes in the file (the
 * local header's extra field pads it, PyTorch's "FB" field), so a reader can map tensors in place.
 */
export function zipStored(entries: readonly (readonly [string, Buffer])[], align = 1): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const DOS_DATE = (1 << 5) | 1; // 1980-01-01: fixed, so the same export gives the same bytes
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const base = offset + 30 + nameBytes.length;
    const pad = align > 1 ? ((align - ((base + 4) % align)) % align) + 4 : 0;
    if (offset + 30 + nameBytes.length + pad + data.length >= 2 ** 32) throw new Error('the checkpoint is over 4 GB, beyond a zip without zip64');
    // The local header: signature, version needed 20, flags 0, method 0 (stored), time 0, date, crc, sizes, name, extra.
    const local = littleEndian(30, [[4, 0x04034b50], [2, 20], [2, 0], [2, 0], [2, 0], [2, DOS_DATE], [4, crc], [4, data.length],
      [4, data.length], [2, nameBytes.length], [2, pad]]);
    const extra = Buffer.alloc(pad);
    if (pad > 0) {
      extra.writeUInt16LE(0x4246, 0); // "FB"
      extra.writeUInt16LE(pad - 4, 2);
    }
    // Its central directory entry: signature, made by 20, needed 20, flags, method, time, date, crc, sizes, name length,
    // then (left 0) extra and comment lengths, disk, attributes, and last the local header's offset.
    const dir = littleEndian(46, [[4, 0x02014b50], [2, 20], [2, 20], [2, 0], [2, 0], [2, 0], [2, DOS_DATE], [4, crc], [4, data.length],
      [4, data.length], [2, nameBytes.length]]);
    dir.writeUInt32LE(offset, 42);
    central.push(dir, nameBytes);
    parts.push(local, nameBytes, extra, data);
    offset += 30 + nameBytes.length + pad + data.length;
  }
  const centralSize = central.reduce((n, b) => n + b.length, 0);
  if (entries.length > 0xffff) throw new Error('too many zip entries');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}
