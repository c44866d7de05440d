// The safetensors container: u64 little-endian header length, a JSON header, then raw little-endian data.

export interface SafeTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafeTensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Serialises F32 tensors (sorted by name) and string metadata. */
export function encodeSafeTensors(tensors: Map<string, SafeTensor>, metadata: Record<string, string>): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} does not hold ${t.data.length} values`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
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
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at); // host is little-endian (x86, arm)
    at += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors buffer; every structural problem is a one-line Error. */
export function decodeSafeTensors(buf: Uint8Array): SafeTensorsFile {
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
    if (e.dtype !== 'F32') throw new Error(`tensor ${name} has dtype ${String(e.dtype)}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`tensor ${name} has a bad shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) throw new Error(`tensor ${name} has bad data_offsets`);
    const [begin, end] = offsets as [number, number];
    const shape = e.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(4 * size)) throw new Error(`tensor ${name} has a bad shape`);
    if (begin < 0 || end > dataLength || end - begin !== 4 * size) throw new Error(`tensor ${name}: data_offsets [${begin}, ${end}] do not match shape ${JSON.stringify(shape)} within the file`);
    spans.push([begin, end, name]);
    tensors.set(name, { shape, data: new Float32Array(0) });
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
    const t = tensors.get(name)!;
    t.data = new Float32Array((end - begin) / 4);
    new Uint8Array(t.data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
  }
  return { tensors, metadata };
}
