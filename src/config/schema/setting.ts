/** What a setting of baton.yaml is: its type, default, check and description; and a section of them. */

export type Check<T> = (value: T) => string | undefined;

interface Doc {
  readonly description: string;
  /** The default as the reference shows it, where it is not a plain value (the local user, say). */
  readonly defaultText?: string;
}

/** One setting: the Reader's options for its type, with what the reference says of it. */
export type Setting =
  | (Doc & {
      readonly kind: 'string';
      readonly optional?: boolean;
      readonly fallback?: string;
      readonly check?: Check<string>;
    })
  | (Doc & {
      readonly kind: 'integer';
      readonly optional?: boolean;
      readonly fallback?: number;
      readonly min: number;
      readonly max: number;
    })
  | (Doc & { readonly kind: 'boolean'; readonly fallback: boolean })
  | (Doc & { readonly kind: 'duration'; readonly fallback: number; readonly min?: number; readonly max?: number })
  | (Doc & { readonly kind: 'strings'; readonly fallback?: readonly string[]; readonly check?: Check<string> })
  | (Doc & {
      readonly kind: 'map';
      readonly fallback: Record<string, string>;
      readonly key?: RegExp;
      readonly secret?: boolean;
    })
  | (Doc & { readonly kind: 'oneOf'; readonly values: readonly string[]; readonly fallback: string })
  | (Doc & { readonly kind: 'secret' })
  | (Doc & { readonly kind: 'custom'; readonly type: string; readonly fallbackText: string });

/** A group of settings under one key. */
export interface AnySection {
  readonly kind: 'section';
  readonly description: string;
  readonly settings: Readonly<Record<string, Setting | AnySection>>;
}

export interface Section<S extends Record<string, Setting | AnySection>> extends AnySection {
  readonly settings: S;
}

export const section = <const S extends Record<string, Setting | AnySection>>(
  description: string,
  settings: S,
): Section<S> => ({
  kind: 'section',
  description,
  settings,
});

export const URL_CHECK: Check<string> = (v) => (/^https?:\/\/[^\s/]+/.test(v) ? undefined : 'is not an http(s) URL');
export const port = (description: string, fallback?: number) =>
  ({ kind: 'integer', min: 1, max: 65535, description, ...(fallback !== undefined && { fallback }) }) as const;

/** The keys of a section, for `Reader.known`. */
export const keysOf = (s: AnySection): string[] => Object.keys(s.settings);
