/**
 * The fleet's images, built locally and cached by a hash of their recipe: a second start builds nothing.
 * - the base image (Debian rootfs by debootstrap, see image/build-base.sh) for every fleet container;
 * - the sandbox app (`FROM scratch` + Debian's busybox-static) in the versions tests deploy.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docker } from './docker.ts';

const imageDir = join(import.meta.dirname, 'image');
const BUSYBOX = '/bin/busybox';

/** The app variants the registry holds, by tag. */
export const APP_VARIANTS = {
  v1: { VERSION: 'v1' },
  v2: { VERSION: 'v2' },
  v3: { VERSION: 'v3' },
  unhealthy: { VERSION: 'unhealthy', HEALTH: 'missing' },
  crash: { VERSION: 'crash', CRASH: '1' },
} as const satisfies Record<string, Record<string, string>>;
export type AppVariant = keyof typeof APP_VARIANTS;

function hashOf(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 12);
}

async function imageExists(tag: string): Promise<boolean> {
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', tag]);
    return true;
  } catch {
    return false;
  }
}

/** Builds (once per recipe) the Debian base image every fleet container runs, and returns its tag. */
export async function ensureBaseImage(log: (line: string) => void = () => {}): Promise<string> {
  const script = join(imageDir, 'build-base.sh');
  const tag = `baton-fleet-base:${hashOf(readFileSync(script))}`;
  if (await imageExists(tag)) return tag;
  log(`building ${tag} with debootstrap (about a minute, once)`);
  await promisify(execFile)('bash', [script, tag], { maxBuffer: 16 << 20 });
  return tag;
}

/** Builds (once per recipe) every app variant; returns the local tags by variant. */
export async function ensureAppImages(log: (line: string) => void = () => {}): Promise<Record<AppVariant, string>> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static`);
  const appDir = join(imageDir, 'app');
  const recipe = hashOf(
    ...readdirSync(appDir)
      .sort()
      .map((f) => readFileSync(join(appDir, f))),
    readFileSync(BUSYBOX),
  );
  const tags = {} as Record<AppVariant, string>;
  let context: string | undefined;
  try {
    for (const [variant, args] of Object.entries(APP_VARIANTS) as [AppVariant, Record<string, string>][]) {
      const tag = `baton-sandbox-app:${variant}-${recipe}`;
      tags[variant] = tag;
      if (await imageExists(tag)) continue;
      if (!context) {
        context = mkdtempSync(join(tmpdir(), 'baton-app-'));
        cpSync(appDir, context, { recursive: true });
        cpSync(BUSYBOX, join(context, 'busybox'));
        log(`building the sandbox app images (${recipe})`);
      }
      const buildArgs = Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
      await docker(['build', '-q', ...buildArgs, '-t', tag, context]);
    }
  } finally {
    if (context) rmSync(context, { recursive: true, force: true });
  }
  return tags;
}
