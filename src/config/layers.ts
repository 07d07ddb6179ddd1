/**
 * The layers of the configuration, merged in order: the file's top level, the deployment's overlay,
 * flags, then `-e key.path=value` extra vars, each value remembering where it came from (its Origin),
 * and no key ever reaching an object's prototype.
 */
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.ts';
import { isObject, type Origin } from './reader.ts';

/** Whether an `-e key=value` may carry a secret (anything under container, registry or vault): never echoed, never stored. */
export const isSecretExtraVar = (extra: string): boolean => /^\s*(container|registry|vault)\b/.test(extra);

/** The key of an `-e key=value`. */
export const extraVarKey = (extra: string): string => extra.slice(0, Math.max(0, extra.indexOf('='))).trim();

export function parseExtraVar(extra: string): Record<string, unknown> {
  const eq = extra.indexOf('=');
  const key = eq > 0 ? extra.slice(0, eq).trim() : '';
  if (!key || !/^[A-Za-z][\w-]*(\.[A-Za-z][\w-]*)*$/.test(key))
    throw new ConfigError('', `${JSON.stringify(extra)} is not key.path=value`, '-e');
  const forbidden = key.split('.').find((part) => PROTOTYPE_KEYS.has(part));
  if (forbidden) throw new ConfigError(key, `is not a setting (a key named ${forbidden} is never merged)`, '-e');
  const raw = extra.slice(eq + 1);
  let value: unknown = raw;
  const doc = parseDocument(raw);
  if (!doc.errors.length) value = doc.toJS();
  const root: Record<string, unknown> = {};
  const parts = key.split('.');
  let at = root;
  for (const part of parts.slice(0, -1)) at = at[part] = {} as Record<string, unknown>;
  at[parts.at(-1)!] = value ?? '';
  return root;
}

/** Keys that would reach an object's prototype if merged: refused wherever they come from. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function deepMerge(
  target: Record<string, unknown>,
  value: Record<string, unknown>,
  path: string,
  origins: Map<string, Origin>,
  origin: Origin,
): void {
  for (const [key, v] of Object.entries(value)) {
    const p = path ? `${path}.${key}` : key;
    if (PROTOTYPE_KEYS.has(key))
      throw new ConfigError(
        origin.prefix + p,
        'is not a setting (a key named __proto__, constructor or prototype is never merged)',
        origin.source,
      );
    if (isObject(v) && isObject(target[key])) {
      deepMerge(target[key] as Record<string, unknown>, v, p, origins, origin);
    } else {
      target[key] = isObject(v) ? nullPrototype(v) : v;
      for (const k of [...origins.keys()]) if (k.startsWith(`${p}.`)) origins.delete(k);
      origins.set(p, origin);
      if (isObject(v)) markAll(v, p, origins, origin);
    }
  }
}

/** A deep copy on objects without a prototype, so no key can reach Object.prototype. */
function nullPrototype(value: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) {
    if (PROTOTYPE_KEYS.has(k)) continue;
    out[k] = isObject(v) ? nullPrototype(v) : v;
  }
  return out;
}

function markAll(value: Record<string, unknown>, path: string, origins: Map<string, Origin>, origin: Origin): void {
  for (const [key, v] of Object.entries(value)) {
    origins.set(`${path}.${key}`, origin);
    if (isObject(v)) markAll(v, `${path}.${key}`, origins, origin);
  }
}
