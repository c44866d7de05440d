// Checks on user text before it reaches a tokenizer: each failure is one line a person can act on.
import { InputError } from '../common/errors';

export const MAX_TEXT_BYTES = 64 * 1024 * 1024;

/** Decodes a file's bytes as UTF-8 text, refusing empty, binary and huge input with a one-line message. */
export function decodeTextFile(bytes: Uint8Array, label: string): string {
  if (bytes.length === 0) throw new InputError(`${label} is empty: there is nothing to train on`);
  if (bytes.length > MAX_TEXT_BYTES) {
    throw new InputError(`${label} is ${(bytes.length / 1048576).toFixed(1)} MB; the limit is ${MAX_TEXT_BYTES / 1048576} MB`);
  }
  const probe = bytes.subarray(0, 8192);
  if (probe.includes(0)) throw new InputError(`${label} looks binary (it contains NUL bytes), not text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${label} is not valid UTF-8 text`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM is not part of the text
  return text;
}

/** The same checks for text that is already a string (the editor's buffer). */
export function checkText(text: string, label: string): string {
  if (text.length === 0) throw new InputError(`${label} is empty: there is nothing to train on`);
  if (text.includes('\u0000')) throw new InputError(`${label} looks binary (it contains NUL characters), not text`);
  if (text.length > MAX_TEXT_BYTES) throw new InputError(`${label} is too large; the limit is ${MAX_TEXT_BYTES / 1048576} MB`);
  return text;
}
