/**
 * Every secret value Baton resolved (HashiCorp Vault, Ansible Vault, `${VAR}` in container env) is
 * registered here, and every free text Baton prints (progress events, so every reporter and the
 * webhook; error messages; the free-text fields of the history) passes through `maskSecrets`.
 *
 * What Baton stores as data (the journal, the lock, the names in the history) is never masked: a name
 * with `***` in it names nothing, and `recover` must call AWS with the real one. A secret value that is
 * also part of a name Baton acts on (an env value that happens to be the region, or a stack name) cannot
 * be hidden without corrupting that name: `declarePublic` drops it from the mask and says so once.
 *
 * A value shorter than MIN_LENGTH is not masked: it would blank out ordinary words; the README says so.
 */
const secrets = new Map<string, string>();
let pattern: RegExp | undefined;

export const MIN_LENGTH = 4;
export const MASK = '***';

/** Registers `value` as a secret; `setting` names where it came from, for the one warning below. */
export function registerSecret(value: string, setting = 'a secret'): void {
  if (value.length < MIN_LENGTH || secrets.has(value)) return;
  secrets.set(value, setting);
  rebuild();
}

function rebuild(): void {
  // Longest first: a secret that contains another is masked whole.
  const escaped = [...secrets.keys()]
    .sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  pattern = escaped.length ? new RegExp(escaped.join('|'), 'g') : undefined;
}

export function maskSecrets(text: string): string {
  return pattern ? text.replace(pattern, MASK) : text;
}

/** A copy of `value` with every string in it masked (events, webhook bodies). */
export function maskDeep<T>(value: T): T {
  if (!pattern) return value;
  if (typeof value === 'string') return maskSecrets(value) as T;
  if (Array.isArray(value)) return value.map(maskDeep) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v)])) as T;
  }
  return value;
}

/**
 * Names Baton acts on and prints as they are (AWS names and ARNs, regions, hosts, images): a secret
 * found inside one is no longer masked, since masking it would corrupt the name. Returns one warning
 * per such secret (each said once per process), naming its setting, never its value.
 */
export function declarePublic(names: Iterable<string>, what = 'a name Baton acts on'): string[] {
  if (!pattern) return [];
  const warnings: string[] = [];
  for (const name of names) {
    for (const [value, setting] of secrets) {
      if (!name.includes(value)) continue;
      secrets.delete(value);
      warnings.push(
        `the value of ${setting} is a secret, but it is also part of ${what} (${describeName(name, value)}): ` +
          'a name is stored and printed as it is, so this value is not masked from here on; keep real secrets out of names',
      );
    }
  }
  if (warnings.length) rebuild();
  return warnings;
}

/** The name with the secret's place shown, and the secret itself left out (it may still be one elsewhere). */
function describeName(name: string, value: string): string {
  const shown = name.split(value).join('<that value>');
  return shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
}

/** Every string inside `value` (a journal change, a host): the names it holds. */
export function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) stringsOf(v, out);
  return out;
}
