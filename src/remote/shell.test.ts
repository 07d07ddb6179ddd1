import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeShell, joinShell, quote, renderShell, secret, sh, words, wordsOf } from './shell.ts';

/** Values an image tag, a label, a path or a deployment name could hold, by accident or on purpose. */
const HOSTILE = [
  '',
  ' ',
  'two words',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${HOME}',
  '$(id)',
  '`id`',
  'a;rm -rf /',
  'a && b || c | d > e < f',
  'line one\nline two',
  '\ttab',
  '\\',
  "\\'",
  '*',
  '[a]?',
  '~root',
  '#not a comment',
  '!',
  '-rf',
  '--',
  'ünïcödé ✓',
  '%s%n',
];

/** The shells Baton's commands meet on hosts: dash (Debian's sh), bash and busybox ash. */
const SHELLS = [['sh'], ['bash'], ['busybox', 'sh']].filter(([bin]) =>
  ['/bin', '/usr/bin'].some((d) => existsSync(`${d}/${bin}`)),
);

/** What a real shell passes to printf for `text`: each argument on a line of its own, between < and >. */
function argsSeenBy(shell: readonly string[], text: string): string {
  return execFileSync(shell[0]!, [...shell.slice(1), '-c', `printf '<%s>\\n' ${text}`], { encoding: 'utf8' });
}

describe('quote', () => {
  it.each(SHELLS)('gives %s every hostile value back as exactly one argument, byte for byte', (...shell) => {
    const rendered = renderShell(sh`${HOSTILE}`);
    expect(argsSeenBy(shell, rendered)).toBe(HOSTILE.map((v) => `<${v}>\n`).join(''));
  });

  it('leaves plain words bare and single-quotes everything else', () => {
    expect(['app', 'registry:5000/app:v2', '--time', '8080:8080', 'a=b,c@d%e+f'].map(quote)).toEqual([
      'app',
      'registry:5000/app:v2',
      '--time',
      '8080:8080',
      'a=b,c@d%e+f',
    ]);
    expect(['', 'a b', "it's", '$HOME', 'a\nb'].map(quote)).toEqual(["''", "'a b'", "'it'\\''s'", "'$HOME'", "'a\nb'"]);
  });
});

describe('sh', () => {
  it('keeps literal text as written and quotes each value once, a list word by word', () => {
    const shell = sh`docker stop --time ${5} ${'my app'} && docker rm ${['a b', 'c']} >/dev/null`;
    expect(renderShell(shell)).toBe("docker stop --time 5 'my app' && docker rm 'a b' c >/dev/null");
  });

  it('splices shell text built by sh as it is, without quoting it again', () => {
    const inner = sh`docker start ${'x y'}`;
    expect(renderShell(sh`${inner} || ${inner}`)).toBe("docker start 'x y' || docker start 'x y'");
  });

  it('renders a secret quoted and describes it as ***, so descriptions come from the same parts', () => {
    const shell = sh`login --password ${secret("pa ss'")} --user ${'deploy'}`;
    expect(renderShell(shell)).toBe("login --password 'pa ss'\\''' --user deploy");
    expect(describeShell(shell)).toBe('login --password *** --user deploy');
    expect(String(secret('x'))).toBe('***');
  });

  it('refuses a value placed inside quotes of the literal text, where quoting it would be wrong', () => {
    expect(() => sh`echo "hello ${'x'}"`).toThrow(/inside double quotes/);
    expect(() => sh`echo 'hello ${'x'}'`).toThrow(/inside single quotes/);
    expect(() => sh`echo "unbalanced`).toThrow(/unbalanced double quote/);
    // Quotes closed before the value, escaped quotes and quotes inside single quotes are fine.
    expect(renderShell(sh`echo "a "${'b c'}" d" \\" ${'e'} '"' ${'f'}`)).toBe(`echo "a "'b c'" d" \\" e '"' f`);
  });

  it.each(SHELLS)('runs in %s with values next to quoted literal text as one word', (...shell) => {
    const text = renderShell(sh`printf '<%s>\n' "prefix:"${"it's $x"}":suffix" ${''}`);
    expect(execFileSync(shell[0]!, [...shell.slice(1), '-c', text], { encoding: 'utf8' })).toBe(
      "<prefix:it's $x:suffix>\n<>\n",
    );
  });

  it('joins pieces with Baton’s own separators', () => {
    expect(renderShell(joinShell([sh`set -e`, sh`cd ${'/a b'}`], '\n'))).toBe("set -e\ncd '/a b'");
  });

  it('gives back the words of a plain command line, and nothing for a script', () => {
    expect(wordsOf(words('docker', 'rm', 'a b'))).toEqual(['docker', 'rm', 'a b']);
    expect(wordsOf(sh`docker rm ${'a b'}`)).toBeUndefined();
    expect(wordsOf(sh`${'a'}${'b'}`)).toBeUndefined();
    expect(wordsOf(sh`${'a'} && ${'b'}`)).toBeUndefined();
    expect(wordsOf(sh``)).toBeUndefined();
  });
});
