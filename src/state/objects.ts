/**
 * The object stores Baton keeps its state in, behind one small interface: S3 (`s3-objects.ts`) and a
 * directory on this machine. Both give the two conditional writes the lock and the journal rely on:
 * create only if absent, and replace or delete only the version last read.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** A write's precondition: create only (`absent`), or replace only the version read (`etag`). */
export type WriteCondition = { readonly absent: true } | { readonly etag: string } | undefined;

export interface StoredObject {
  readonly body: string;
  readonly etag: string;
  readonly lastModified: Date;
  /** The store's clock when it answered. */
  readonly storeNow: Date;
}

export interface ObjectStore {
  /** Whether other machines see what is written here. */
  readonly shared: boolean;
  get(key: string): Promise<StoredObject | undefined>;
  /** The new version's etag, or undefined when the condition did not hold. */
  put(key: string, body: string, condition?: WriteCondition): Promise<string | undefined>;
  /** False when `etag` was given and the object changed or is gone. */
  delete(key: string, etag?: string): Promise<boolean>;
  /** The keys starting with `prefix`, in key order. */
  list(prefix: string): Promise<string[]>;
  url(key: string): string;
  close(): void;
}

const etagOf = (body: string) => `"${createHash('md5').update(body).digest('hex')}"`;

/**
 * Objects as files under a directory. Writes go to a temporary file, are flushed, then moved into
 * place, so a reader (or a run killed mid-write) never sees half an object. Create-only uses link(2),
 * which fails if the name exists; replace-if-unchanged compares the etag just before the rename (runs
 * on one machine, serialised by the lock, which is itself create-only).
 */
export class DirectoryObjects implements ObjectStore {
  readonly shared = false;
  constructor(private readonly root: string) {}

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const body = readFileSync(this.path(key), 'utf8');
      return { body, etag: etagOf(body), lastModified: statSync(this.path(key)).mtime, storeNow: new Date() };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(key: string, body: string, condition?: WriteCondition): Promise<string | undefined> {
    const target = this.path(key);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = openSync(temporary, 'wx', 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      if (condition && 'absent' in condition) {
        try {
          linkSync(temporary, target);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
          throw error;
        }
        return etagOf(body);
      }
      if (condition && 'etag' in condition) {
        const current = await this.get(key);
        if (!current || current.etag !== condition.etag) return undefined;
      }
      renameSync(temporary, target);
      return etagOf(body);
    } finally {
      try {
        unlinkSync(temporary);
      } catch {
        // Moved into place already.
      }
    }
  }

  async delete(key: string, etag?: string): Promise<boolean> {
    if (etag !== undefined) {
      const current = await this.get(key);
      if (!current || current.etag !== etag) return false;
    }
    try {
      unlinkSync(this.path(key));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return etag === undefined;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.path(prefix.replace(/\/$/, ''));
    let names: string[];
    try {
      names = readdirSync(dir, { recursive: true }) as string[];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((n) => !n.endsWith('.tmp') && statSync(join(dir, n)).isFile())
      .map((n) => relative(this.root, join(dir, n)).split('\\').join('/'))
      .sort();
  }

  url(key: string): string {
    return this.path(key);
  }

  close(): void {}
}
