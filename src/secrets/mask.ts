/**
 * Every secret value Baton resolved (HashiCorp Vault, Ansible Vault, `${VAR}` in container env) is
 * registered here, and everything Baton prints or stores passes through `maskSecrets`: progress events
 * (so every reporter, the history and the webhook), and error messages. A value shorter than
 * MIN_LENGTH is not masked: it would blank out ordinary words; the README says so.
 */
const secrets = new Set<string>();
let pattern: RegExp | undefined;

export const MIN_LENGTH = 4;
export const MASK = '***';

export function registerSecret(value: string): void {
  if (value.length < MIN_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  // Longest first: a secret that contains another is masked whole.
  const escaped = [...secrets].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  pattern = new RegExp(escaped.join('|'), 'g');
}

export function maskSecrets(text: string): string {
  return pattern && secrets.size ? text.replace(pattern, MASK) : text;
}

/** A copy of `value` with every string in it masked (events, history records, webhook bodies). */
export function maskDeep<T>(value: T): T {
  if (!secrets.size) return value;
  if (typeof value === 'string') return maskSecrets(value) as T;
  if (Array.isArray(value)) return value.map(maskDeep) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDeep(v)])) as T;
  }
  return value;
}
