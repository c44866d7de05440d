import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paintedSpan } from '../../extension/surpriseSpans';

const painted = (text: string, start: number, end: number): string | null => {
  const span = paintedSpan(text, start, end);
  return span && text.slice(...span);
};

test('the surprise heat skips indentation and line breaks, and keeps spaces between words', () => {
  const text = 'def f(x):\n    return x\n\tif y:  z\n';
  const at = (s: string): number => text.indexOf(s);
  assert.equal(painted(text, at('    return'), at('    return') + 4), null, 'indentation alone is not painted');
  assert.equal(painted(text, at('\n    return'), at('return') + 6), 'return', 'a newline with the indentation after it');
  assert.equal(painted(text, at('    return'), at('return') + 3), 'ret', 'a token that starts in the indentation');
  assert.equal(painted(text, at(' x\n'), at(' x\n') + 2), ' x', 'a space between words is painted');
  assert.equal(painted(text, at('\n\tif'), at('\n\tif') + 1), null, 'a line break alone is not painted');
  assert.equal(painted(text, at('\tif'), at('\tif') + 1), null, 'a tab at the start of a line');
  assert.equal(painted(text, at('  z'), at('  z') + 2), '  ', 'spaces after text on the line are not indentation');
  assert.equal(painted('a\r\n  b', 1, 6), 'b', 'CRLF and indentation');
  assert.equal(painted('  x', 0, 3), 'x', 'indentation on the first line');
});
