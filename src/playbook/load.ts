/**
 * Loads a playbook: a TypeScript module whose default export is a `playbook({...})`, run without a
 * build step (tsx compiles it on the fly). Without a path, the built-in rolling deploy, compiled with
 * Baton: tsx and its worker are loaded only for a playbook of the user's.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { Playbook, PlaybookDefinition } from './types.ts';
import { playbook } from './index.ts';
import { deployPlaybook } from './deploy.ts';

export async function loadPlaybook(file?: string): Promise<Playbook> {
  if (!file) return deployPlaybook;
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError('--playbook', `${path} does not exist`);
  let module: { default?: unknown };
  try {
    // Registered globally (not tsImport's namespace) so the playbook's `import ... from 'baton'` gets
    // the very modules the CLI runs: one copy of each task and error class.
    await registerTypeScript();
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError('--playbook', `${path} could not be loaded: ${(error as Error).message}`);
  }
  const candidate = (module.default as { default?: unknown })?.default ?? module.default;
  if (!candidate || typeof candidate !== 'object' || !('tasks' in candidate)) {
    throw new ConfigError('--playbook', `${path} has no default export made with playbook({...})`);
  }
  // Checked and completed as `playbook()` does (a module may export a plain object, or leave out its preTasks).
  return playbook(candidate as PlaybookDefinition);
}

let registered: Promise<void> | undefined;
function registerTypeScript(): Promise<void> {
  return (registered ??= import('tsx/esm/api').then(({ register }) => void register()));
}
