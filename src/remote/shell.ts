/**
 * Shell text as data, quoted in exactly one place.
 *
 * `sh` is a tagged template: its literal parts are Baton's own shell text (keywords, `&&`, `||`, pipes,
 * redirects, `$variables` it set itself), and every `${value}` becomes one quoted word, an array one
 * word per element. A value can never be read as shell syntax, whatever it holds. A value placed inside
 * quotes of the literal text (where single-quoting would not work) is refused when the text is built,
 * so that mistake fails its builder's test instead of reaching a host.
 *
 * A secret is quoted like any word when rendered and shows as `***` when described, so the description
 * of a command (progress, errors, the journal) comes from the same parts as the text the host runs.
 */

/** One piece of shell text: Baton's literal text, a word from outside, or a secret word. */
export type ShellPart = { readonly text: string } | { readonly word: string } | { readonly secret: string };

/** Shell text as its parts; render it with `renderShell`, describe it with `describeShell`. */
export interface Shell {
  readonly parts: readonly ShellPart[];
}

/** A value that must never be printed: rendered quoted, described as `***`. */
export class SecretWord {
  constructor(readonly value: string) {}
  toString(): string {
    return '***';
  }
}

export const secret = (value: string): SecretWord => new SecretWord(value);

/** What `sh` takes in a `${}`: a word, a number, a list of words, a secret, or shell text built by `sh`. */
export type ShellValue = string | number | readonly (string | number)[] | SecretWord | Shell;

const isShell = (value: ShellValue): value is Shell => typeof value === 'object' && 'parts' in value;

/** POSIX single-quoting: safe for any byte string in sh, bash, dash and busybox ash. */
export function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

type QuoteState = 'none' | 'single' | 'double';

/** The quoting state after `text`, starting in `state` (backslash escapes outside single quotes). */
function quoteStateAfter(text: string, state: QuoteState): QuoteState {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (state === 'single') {
      if (c === "'") state = 'none';
    } else if (c === '\\') i++;
    else if (c === '"') state = state === 'double' ? 'none' : 'double';
    else if (c === "'" && state === 'none') state = 'single';
  }
  return state;
}

/** Shell text: literal parts as written, every `${value}` a quoted word (see the module comment). */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): Shell {
  const parts: ShellPart[] = [];
  let state: QuoteState = 'none';
  strings.forEach((text, i) => {
    if (text) parts.push({ text });
    state = quoteStateAfter(text, state);
    if (i === values.length) return;
    const value = values[i]!;
    if (state !== 'none')
      throw new Error(
        `sh: a value inside ${state} quotes would not be quoted right (after ${JSON.stringify(strings.slice(0, i + 1).join('${…}'))})`,
      );
    parts.push(...partsOf(value));
  });
  if (state !== 'none') throw new Error(`sh: unbalanced ${state} quote in ${JSON.stringify(strings.join('${…}'))}`);
  return { parts };
}

function partsOf(value: ShellValue): ShellPart[] {
  if (isShell(value)) return [...value.parts];
  if (value instanceof SecretWord) return [{ secret: value.value }];
  if (typeof value === 'string' || typeof value === 'number') return [{ word: String(value) }];
  return value.flatMap((word, i) => (i ? [{ text: ' ' }, { word: String(word) }] : [{ word: String(word) }]));
}

/** Shell text that is only these words: `words('docker', 'stop', name)`. */
export const words = (...argv: readonly (string | number)[]): Shell => ({ parts: partsOf(argv) });

/** Joins pieces of shell text with `separator` (Baton's own text: a newline, `' && '`, `'; '`). */
export function joinShell(pieces: readonly Shell[], separator: string): Shell {
  return { parts: pieces.flatMap((piece, i) => (i ? [{ text: separator }, ...piece.parts] : [...piece.parts])) };
}

/** The text a shell runs. */
export function renderShell(shell: Shell): string {
  return shell.parts.map((p) => ('text' in p ? p.text : quote('word' in p ? p.word : p.secret))).join('');
}

/** The same text with every secret as `***`: for progress, logs, errors and the journal. */
export function describeShell(shell: Shell): string {
  return shell.parts.map((p) => ('text' in p ? p.text : 'word' in p ? quote(p.word) : '***')).join('');
}

/** The words, when the text is nothing but words separated by single spaces (a plain command line). */
export function wordsOf(shell: Shell): readonly string[] | undefined {
  const out: string[] = [];
  let wordNext = true;
  for (const p of shell.parts) {
    if (wordNext === 'text' in p) return undefined;
    if ('text' in p) {
      if (p.text !== ' ') return undefined;
    } else out.push('word' in p ? p.word : p.secret);
    wordNext = !wordNext;
  }
  return wordNext ? undefined : out;
}
