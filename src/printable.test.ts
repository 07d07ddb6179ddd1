import { describe, expect, it } from 'vitest';
import { printable } from './printable.ts';

describe('printable', () => {
  it('shows control characters and ANSI sequences as escapes, keeping newlines and tabs', () => {
    expect(printable('ok\x1b[2J\x1b]0;title\x07\rdone\n\tnext\x7f\u2028')).toBe(
      'ok\\x1b[2J\\x1b]0;title\\x07\\x0ddone\n\tnext\\x7f\\u2028',
    );
  });
  it('puts a name on one line', () => {
    expect(printable("web-1\n##teamcity[setParameter name='x']\t", { oneLine: true })).toBe(
      "web-1\\n##teamcity[setParameter name='x']\\t",
    );
  });
  it('leaves ordinary text alone', () => {
    expect(printable('app-1: registry:5000/app:v2 → v3 (1.2s)')).toBe('app-1: registry:5000/app:v2 → v3 (1.2s)');
  });
});
