/**
 * Loads a playbook: a TypeScript module whose default export is a `playbook({...})`, run without a
 * build step (tsx compiles it on the fly). Without a path, the built-in rolling deploy.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { ConfigError } from '../errors.ts';
import type { Playbook } from './types.ts';

const builtIn = fileURLToPath(new URL('../../../playbooks/deploy.ts', import.meta.url));

export async function loadPlaybook(file?: string): Promise<Playbook> {
  const path = file ? resolve(file) : existsSync(builtIn) ? builtIn : fileURLToPath(new URL('../../playbooks/deploy.ts', import.meta.url));
  if (!existsSync(path)) throw new ConfigError('--playbook', `${path} does not exist`);
  let module: { default?: unknown };
  try {
    module = await tsImport(pathToFileURL(path).href, import.meta.url);
  } catch (error) {
    throw new ConfigError('--playbook', `${path} could not be loaded: ${(error as Error).message}`);
  }
  const candidate = (module.default as { default?: unknown })?.default ?? module.default;
  if (!candidate || typeof candidate !== 'object' || !('tasks' in candidate)) {
    throw new ConfigError('--playbook', `${path} has no default export made with playbook({...})`);
  }
  return candidate as Playbook;
}
