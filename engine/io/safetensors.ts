// The safetensors container: u64 little-endian header length, a JSON header, then raw little-endian data.

export interface SafeTensor {
  shape: number[];
  data: Float32Array;
}

/** An F16 tensor as raw half-precision bits (engine/common/float16.ts); weight snapshots are kept this way. */
export interface HalfTensor {
  shape: number[];
  half: Uint16Array;
}

export interface SafeTensorsFile {
  tensors: Map<string, SafeTensor>;
  /** F16 tensors, when the reader allows them (decodeSafeTensors' allowFloat16); else empty. */
  halves: Map<string, HalfTensor>;
  metadata: Record<string, string>;
}

/** Serialises F32 and F16 tensors (sorted by name) and string metadata. */
export function encodeSafeTensors(tensors: Map<string, SafeTensor | HalfTensor>, metadata: Record<string, string>): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    const values = 'half' in t ? t.half : t.data, width = values.BYTES_PER_ELEMENT;
    if (size !== values.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} does not hold ${values.length} values`);
    header[name] = { dtype: 'half' in t ? 'F16' : 'F32', shape: t.shape, data_offsets: [offset, offset + width * size] };
    offset += width * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    const values = 'half' in t ? t.half : t.data;
    Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(out, at); // host is little-endian (x86, arm)
    at += values.byteLength;
  }
  return out;
}

/** Parses a safetensors buffer; every structural problem is a one-line Error. F16 tensors only with allowFloat16. */
export function decodeSafeTensors(buf: Uint8Array, options: { allowFloat16?: boolean } = {}): SafeTensorsFile {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.length < 8) throw new Error('file is too short to be safetensors');
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength < 2 || 8 + headerLength > bytes.length) throw new Error(`header length ${headerLength} does not fit a ${bytes.length}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch {
    throw new Error('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, SafeTensor>();
  const halves = new Map<string, HalfTensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error('__metadata__ is not an object');
      metadata = Object.fromEntries(Object.entries(entry).map(([k, v]) => {
        if (typeof v !== 'string') throw new Error(`metadata ${k} is not a string`);
        return [k, v];
      }));
      continue;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`tensor ${name} is not described by an object`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const half = e.dtype === 'F16' && options.allowFloat16 === true;
    if (e.dtype !== 'F32' && !half) throw new Error(`tensor ${name} has dtype ${String(e.dtype)}; only F32 is supported`);
    const width = half ? 2 : 4;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`tensor ${name} has a bad shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) throw new Error(`tensor ${name} has bad data_offsets`);
    const [begin, end] = offsets as [number, number];
    const shape = e.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(width * size)) throw new Error(`tensor ${name} has a bad shape`);
    if (begin < 0 || end > dataLength || end - begin !== width * size) throw new Error(`tensor ${name}: data_offsets [${begin}, ${end}] do not match shape ${JSON.stringify(shape)} within the file`);
    spans.push([begin, end, name]);
    if (half) halves.set(name, { shape, half: new Uint16Array(0) });
    else tensors.set(name, { shape, data: new Float32Array(0) });
  }
  // As the safetensors specification (and its Rust reader) requires: the tensors tile the data section exactly, with
  // no gaps, overlaps or trailing bytes. A header that shifts the data by a byte fails here instead of loading noise.
  spans.sort((a, b) => a[0] - b[0]);
  let expected = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expected) throw new Error(`tensor ${name} starts at byte ${begin} of the data, expected ${expected}: the data is shifted or overlaps`);
    expected = end;
  }
  if (expected !== dataLength) throw new Error(`the tensors cover ${expected} bytes of data but the file holds ${dataLength}`);
  for (const [begin, end, name] of spans) {
    const t = tensors.get(name), h = halves.get(name);
    const values = t ? (t.data = new Float32Array((end - begin) / 4)) : (h!.half = new Uint16Array((end - begin) / 2));
    new Uint8Array(values.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
  }
  return { tensors, halves, metadata };
}
