// IEEE 754 half precision (binary16) as raw bits: 1 sign, 5 exponent, 10 mantissa bits. Snapshots of the weights are
// kept this way, half the memory of float32, about three significant digits.

/** The largest finite half: (2 - 2^-10) * 2^15. */
export const FLOAT16_MAX = 65504;

/** A float32 rounding to a half is within this fraction of itself (half a unit in the last of 11 significant bits). */
export const FLOAT16_RELATIVE_ERROR = 2 ** -11;

/** Below the smallest normal half (2^-14) values are subnormal, spaced 2^-24: the absolute error is at most 2^-25. */
export const FLOAT16_ABSOLUTE_ERROR = 2 ** -25;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 to the nearest half's bits (ties to even); beyond FLOAT16_MAX it becomes infinity, as IEEE rounding does. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  return halfOfFloatBits(u32[0]);
}

/** The half nearest to the float32 with these bits. */
function halfOfFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // infinity, or a quiet NaN
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: zero
    mant |= 0x800000; // the implicit leading bit, then shift into a subnormal
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let bits = mant >>> shift;
    if (rest > half || (rest === half && bits & 1)) bits += 1; // may carry into the smallest normal, which is right
    return sign | bits;
  }
  let bits = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && bits & 1)) bits += 1; // may carry into the exponent, even to infinity
  return sign | bits;
}

/** A half's bits to its value. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Float32 values to half bits. */
export function toFloat16(data: Float32Array): Uint16Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length); // the same memory, read as float32 bits
  const out = new Uint16Array(data.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfOfFloatBits(bits[i]);
  return out;
}

/** Half bits to float32 values, through a table of all 65,536 halves. */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = table[bits[i]];
  return out;
}

let table: Uint32Array | null = null;
/** Every half's value as float32 bits (each is exact in float32). */
function halfTable(): Uint32Array {
  if (!table) {
    const values = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) values[h] = fromFloat16Bits(h);
    table = new Uint32Array(values.buffer);
  }
  return table;
}

/** Whether every value is finite and rounds to a finite half, so that the half copy holds it within tolerance. */
export function fitsFloat16(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(v < FLOAT16_MAX + 16 && v > -(FLOAT16_MAX + 16))) return false; // 65520 and beyond round to infinity
  }
  return true;
}
