/**
 * Text from outside (EC2 tags, container logs, remote stderr) reaches the terminal and CI logs: its
 * control characters and ANSI sequences are shown as escapes, so none can move the cursor, recolour
 * the screen, or fake a line of Baton's own.
 */
// C0 controls but tab and newline, DEL, C1 controls, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

const escape = (c: string) =>
  `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`.replace(/^\\x(20[0-9a-f]{2})$/, '\\u$1');

/** `text` with every control character as a visible escape; newlines kept unless `oneLine`. */
export function printable(text: string, options: { oneLine?: boolean } = {}): string {
  const out = text.replace(CONTROL, escape);
  return options.oneLine ? out.replace(/\n/g, '\\n').replace(/\t/g, '\\t') : out;
}
