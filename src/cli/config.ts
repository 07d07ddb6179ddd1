/**
 * `baton config show`: the configuration one deployment runs with, every setting with where it came
 * from (the file and its path, `-e`, or Baton's default), secrets as `***`.
 */
import type { Origin } from '../config/index.ts';
import { ExitCode } from '../errors.ts';
import { MASK, maskSecrets } from '../secrets/mask.ts';
import { loadFlaggedConfig } from './config-flags.ts';
import type { StateCommandOptions } from './state.ts';

export async function runConfigShow(options: StateCommandOptions): Promise<number> {
  const origins = new Map<string, Origin>();
  const config = await loadFlaggedConfig(options, { origins });
  const rows: { path: string; value: unknown; from: string }[] = [];
  const walk = (value: unknown, path: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    if (path === 'source' || path === 'deployment') return;
    const origin = origins.get(path);
    const from = origin
      ? `${origin.source}${origin.prefix || origin.source === 'command line' ? `: ${origin.prefix}${path}` : ''}`
      : 'default';
    // Container env values, secret files and passwords are shown masked whatever they hold: a literal may be a secret too.
    const shown =
      path.startsWith('container.env.') || path.startsWith('container.secretFiles.') || path === 'registry.password'
        ? MASK
        : value;
    rows.push({ path, value: shown, from: maskSecrets(from) });
  };
  walk(config, '');
  if (options.json) {
    process.stdout.write(
      `${maskSecrets(JSON.stringify(Object.fromEntries(rows.map((r) => [r.path, { value: r.value, from: r.from }])), null, 2))}\n`,
    );
    return ExitCode.Ok;
  }
  const width = Math.max(...rows.map((r) => r.path.length + JSON.stringify(r.value).length + 2));
  process.stdout.write(`# ${config.source}, deployment ${config.deployment}\n`);
  for (const r of rows) {
    const line = `${r.path}: ${JSON.stringify(r.value)}`;
    process.stdout.write(`${maskSecrets(line).padEnd(width)}  # ${r.from}\n`);
  }
  return ExitCode.Ok;
}
