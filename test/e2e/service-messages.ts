/**
 * TeamCity's side of a build log: service messages parsed back as TeamCity reads them, strictly, so
 * a message Baton escaped wrongly fails the test instead of being silently misread.
 */
export interface ServiceMessage {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  /** The single value of the `##teamcity[name 'value']` form. */
  readonly value?: string;
}

const ESCAPES: Record<string, string> = { "'": "'", n: '\n', r: '\r', '|': '|', '[': '[', ']': ']' };

function unescape(text: string, line: string): string {
  return text.replace(/\|(0x[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.startsWith('0x')) return String.fromCharCode(Number.parseInt(e.slice(2), 16));
    const c = ESCAPES[e];
    if (c === undefined) throw new Error(`unknown escape |${e} in ${line}`);
    return c;
  });
}

/** Every `##teamcity[...]` line of `log`, in order; throws on one TeamCity could not parse. */
export function parseServiceMessages(log: string): ServiceMessage[] {
  return log
    .split('\n')
    .filter((l) => l.startsWith('##teamcity['))
    .map((line) => {
      const m = /^##teamcity\[([A-Za-z][\w.]*)(.*)\]$/.exec(line);
      if (!m) throw new Error(`not a service message: ${line}`);
      const [, name, rest] = m as unknown as [string, string, string];
      const single = /^ '((?:\|.|[^|'])*)'$/.exec(rest);
      if (single) return { name, attrs: {}, value: unescape(single[1]!, line) };
      const attrs: Record<string, string> = {};
      const re = / ([A-Za-z][\w.]*)='((?:\|.|[^|'])*)'/gy;
      let at = 0;
      for (let a = re.exec(rest); a; a = re.exec(rest)) {
        attrs[a[1]!] = unescape(a[2]!, line);
        at = re.lastIndex;
      }
      if (at !== rest.length) throw new Error(`cannot parse the attributes of ${line} after: ${rest.slice(at)}`);
      return { name, attrs };
    });
}

/** Checks that blocks open and close in pairs, per flow, innermost first; returns the names opened. */
export function checkBlocks(messages: readonly ServiceMessage[]): string[] {
  const open = new Map<string, string[]>();
  const opened: string[] = [];
  for (const m of messages) {
    const flow = m.attrs.flowId ?? '';
    const stack = open.get(flow) ?? [];
    open.set(flow, stack);
    if (m.name === 'blockOpened') {
      stack.push(m.attrs.name!);
      opened.push(m.attrs.name!);
    } else if (m.name === 'blockClosed') {
      const top = stack.pop();
      if (top !== m.attrs.name) throw new Error(`blockClosed '${m.attrs.name}' in flow '${flow}' but '${top}' is open`);
    }
  }
  const left = [...open].filter(([, s]) => s.length);
  if (left.length) throw new Error(`blocks left open: ${left.map(([f, s]) => `${f}: ${s.join(', ')}`).join('; ')}`);
  return opened;
}
