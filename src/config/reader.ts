/**
 * Typed reads from the merged configuration. Each read validates one value and, when it is bad, records
 * an issue naming its path, its value and the layer it came from (the file, a deployment's overlay, a
 * flag or `-e`), then carries on with a placeholder, so every problem is reported in one go.
 */

export interface Origin {
  /** The file, `command line`, or `-e key=value`. */
  readonly source: string;
  /** Prepended to the path: `deployments.integration.` for an overlay's values. */
  readonly prefix: string;
}

export interface Issue {
  readonly path: string;
  readonly problem: string;
  readonly origin: Origin;
}

type Check<T> = (value: T) => string | undefined;
const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export class Reader {
  constructor(
    private readonly value: Record<string, unknown>,
    private readonly origins: ReadonlyMap<string, Origin>,
    private readonly issues: Issue[],
    private readonly fallbackOrigin: Origin,
    private readonly path = '',
  ) {}

  private at(key: string): string {
    return this.path ? (key ? `${this.path}.${key}` : this.path) : key;
  }

  private originOf(path: string): Origin {
    for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
      const o = this.origins.get(p);
      if (o) return o;
    }
    return this.fallbackOrigin;
  }

  problem(key: string, problem: string): void {
    const path = this.at(key);
    this.issues.push({ path, problem, origin: this.originOf(path) });
  }

  private bad<T>(key: string, problem: string, placeholder: T): T {
    this.problem(key, `${show(this.value[key])} ${problem}`);
    return placeholder;
  }

  has(key: string): boolean {
    return this.value[key] !== undefined && this.value[key] !== null;
  }

  /** Unknown keys are errors, with a suggestion when a known key is close. */
  known(keys: readonly string[]): void {
    for (const key of Object.keys(this.value)) {
      if (keys.includes(key)) continue;
      const near = closest(key, keys);
      this.problem(key, `unknown setting${near ? ` (did you mean "${near}"?)` : ` (known here: ${keys.join(', ')})`}`);
    }
  }

  child(key: string): Reader {
    const v = this.value[key];
    if (v !== undefined && v !== null && !isObject(v)) {
      this.bad(key, 'is not a mapping of settings', undefined);
      return new Reader({}, this.origins, this.issues, this.fallbackOrigin, this.at(key));
    }
    return new Reader(
      (v as Record<string, unknown>) ?? {},
      this.origins,
      this.issues,
      this.fallbackOrigin,
      this.at(key),
    );
  }

  private missing<T>(key: string, fallback: T | undefined, optional: boolean | undefined): T | undefined {
    if (fallback !== undefined || optional) return fallback;
    this.problem(key, 'is required');
    return undefined;
  }

  string(key: string, o: { optional: true; fallback?: string; check?: Check<string> }): string | undefined;
  string(key: string, o?: { optional?: false; fallback?: string; check?: Check<string> }): string;
  string(key: string, o: { optional?: boolean; fallback?: string; check?: Check<string> } = {}): string | undefined {
    const v = this.value[key];
    if (!this.has(key)) return this.missing(key, o.fallback, o.optional) ?? (o.optional ? undefined : '');
    if (typeof v === 'number' || typeof v === 'boolean') return this.validate(key, String(v), o.check);
    if (typeof v !== 'string' || !v) return this.bad(key, 'is not a non-empty string', '');
    return this.validate(key, v, o.check);
  }

  /** A string that may be a secret: a problem names the setting, never the value. */
  secret(key: string, map?: (v: string) => string | { problem: string }): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.value[key];
    if (typeof v !== 'string' || !v) {
      this.problem(key, 'is not a non-empty string');
      return undefined;
    }
    const mapped = map ? map(v) : v;
    if (typeof mapped === 'string') return mapped;
    this.problem(key, mapped.problem);
    return undefined;
  }

  private validate<T>(key: string, v: T, check?: Check<T>): T {
    const problem = check?.(v);
    return problem ? this.bad(key, problem, v) : v;
  }

  integer(key: string, o: { optional: true; fallback?: number; min: number; max: number }): number | undefined;
  integer(key: string, o: { optional?: false; fallback?: number; min: number; max: number }): number;
  integer(key: string, o: { optional?: boolean; fallback?: number; min: number; max: number }): number | undefined {
    if (!this.has(key)) return this.missing(key, o.fallback, o.optional) ?? (o.optional ? undefined : 0);
    const v = this.value[key];
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) return this.bad(key, 'is not a whole number', 0);
    if (n < o.min || n > o.max) return this.bad(key, `is out of range (${o.min} to ${o.max})`, n);
    return n;
  }

  boolean(key: string, o: { fallback: boolean }): boolean {
    if (!this.has(key)) return o.fallback;
    const v = this.value[key];
    return typeof v === 'boolean' ? v : this.bad(key, 'is not true or false', o.fallback);
  }

  /** A duration: "500ms", "10s", "5m", "1h", "1m30s", or a whole number of seconds. In milliseconds. */
  duration(key: string, o: { fallback: number; min?: number; max?: number }): number {
    if (!this.has(key)) return o.fallback;
    const ms = parseDuration(this.value[key]);
    if (ms === undefined) return this.bad(key, 'is not a duration (like 500ms, 10s, 5m or 1m30s)', o.fallback);
    if (ms < (o.min ?? 1)) return this.bad(key, `is too short (at least ${o.min ?? 1}ms)`, o.fallback);
    const max = o.max ?? MAX_DURATION_MS;
    if (ms > max) return this.bad(key, `is too long (at most ${max / 3_600_000}h)`, o.fallback);
    return ms;
  }

  strings(key: string, o: { fallback?: readonly string[]; check?: Check<string> }): string[] {
    if (!this.has(key)) return [...(this.missing(key, o.fallback, false) ?? [])];
    const v = this.value[key];
    if (!Array.isArray(v)) return this.bad(key, 'is not a list', []);
    return v.map((item, i) => {
      const s = typeof item === 'number' ? String(item) : item;
      if (typeof s !== 'string' || !s) {
        this.problem(`${key}[${i}]`, `${show(item)} is not a non-empty string`);
        return '';
      }
      const problem = o.check?.(s);
      if (problem) this.problem(`${key}[${i}]`, `${show(s)} ${problem}`);
      return s;
    });
  }

  /** `secret`: the values may be secrets, so a problem never quotes one. */
  map(
    key: string,
    o: {
      fallback: Record<string, string>;
      key?: RegExp;
      value?: (v: string, key: string) => string | { problem: string };
      secret?: boolean;
    },
  ): Record<string, string> {
    if (!this.has(key)) return o.fallback;
    const v = this.value[key];
    if (!isObject(v)) return this.bad(key, 'is not a mapping', {});
    const out: Record<string, string> = {};
    for (const [k, item] of Object.entries(v)) {
      if (o.key && !o.key.test(k)) this.problem(`${key}.${k}`, 'is not a valid name');
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
        this.problem(`${key}.${k}`, `${o.secret ? 'the value' : show(item)} is not a string`);
        continue;
      }
      const mapped = o.value ? o.value(String(item), k) : String(item);
      if (typeof mapped === 'string') out[k] = mapped;
      else this.problem(`${key}.${k}`, mapped.problem);
    }
    return out;
  }

  oneOf<T extends string>(key: string, values: readonly T[], o: { fallback: T }): T {
    if (!this.has(key)) return o.fallback;
    const v = this.value[key];
    return values.includes(v as T) ? (v as T) : this.bad(key, `is not one of ${values.join(', ')}`, o.fallback);
  }

  /** A value with its own parser, which returns the value or a problem sentence. */
  custom<T>(key: string, parse: (v: unknown) => { value: T } | { problem: string }, fallback: T): T {
    if (!this.has(key)) return fallback;
    const r = parse(this.value[key]);
    if ('value' in r) return r.value;
    this.problem(key, r.problem);
    return fallback;
  }
}

/** The longest wait any setting takes: a day, well under Node's timer limit (2^31-1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 24 * 3_600_000;

export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== v) return undefined;
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0));
}

/** The known key within edit distance 2 of `key`, or sharing its first four letters. */
function closest(key: string, keys: readonly string[]): string | undefined {
  let best: { key: string; d: number } | undefined;
  for (const k of keys) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { key: k, d };
  }
  return best?.key ?? keys.find((k) => key.length >= 4 && k.toLowerCase().startsWith(key.slice(0, 4).toLowerCase()));
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
}
