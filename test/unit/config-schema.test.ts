/**
 * The schema is the one place settings are declared: the reference page is rendered from it, and the
 * loader reads every setting through it, so its defaults are the loader's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { renderReference } from '../../src/config/reference.ts';
import { CONFIG, type AnySection } from '../../src/config/schema.ts';

const minimal = `region: eu-west-1
stack: web
release: api
health: { http: { port: 8080 } }
deployments: { integration: {} }
`;

/** Every setting of the schema with a plain default, by dotted path. */
function defaults(section: AnySection, prefix = ''): [string, unknown][] {
  return Object.entries(section.settings).flatMap(([key, entry]): [string, unknown][] => {
    const path = `${prefix}${key}`;
    if (entry.kind === 'section') return defaults(entry, `${path}.`);
    if (entry.defaultText) return [];
    if (['integer', 'duration', 'boolean', 'oneOf', 'strings', 'map'].includes(entry.kind) && 'fallback' in entry)
      return entry.fallback === undefined ? [] : [[path, entry.fallback]];
    return [];
  });
}

const at = (value: unknown, path: string) =>
  path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);

describe('the configuration schema', () => {
  it('renders the reference page in the repository exactly (run `npm run docs:config` after changing the schema)', () => {
    const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(page).toBe(renderReference());
  });

  it('documents every setting the loader knows, with the defaults the loader gives', () => {
    const config = parseConfig(minimal, '/etc/baton/baton.yaml', { deployment: 'integration' });
    const checked = defaults(CONFIG).filter(([path]) => !/^(ssh\.bastion|vault|registry)\./.test(path));
    expect(checked.length).toBeGreaterThan(30);
    for (const [path, fallback] of checked) {
      const loaded = at(config, path);
      // /dev/log is always added to the volumes.
      expect(loaded, path).toEqual(path === 'container.volumes' ? ['/dev/log:/dev/log'] : fallback);
    }
    const page = renderReference();
    for (const [path] of defaults(CONFIG)) expect(page).toContain(`\`${path.split('.').at(-1)}\``);
  });

  it('refuses a key the schema does not declare, in every section', () => {
    const sections = ['aws', 'ssh', 'container', 'health', 'autoscaling', 'rollout', 'timeouts', 'state'];
    for (const s of sections) {
      const extraVars = [`${s}.notASetting=1`];
      expect(() => parseConfig(minimal, 'baton.yaml', { deployment: 'integration', extraVars }), s).toThrow(
        `${s}.notASetting: unknown setting`,
      );
    }
  });
});
