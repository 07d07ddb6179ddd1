/**
 * The configuration reference (docs/configuration.md), rendered from schema.ts: a table per section with
 * each setting's type, default and description. `npm run docs:config` writes it; a test fails when the
 * page in the repository is not what the schema renders.
 */
import { CONFIG, type AnySection, type Setting } from './schema.ts';

const code = (text: string) => `\`${text}\``;
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A duration in milliseconds as baton.yaml would write it: `15s`, `2m`, `500ms`. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

function typeOf(s: Setting): string {
  switch (s.kind) {
    case 'string':
      return 'string';
    case 'integer':
      return `whole number, ${s.min} to ${s.max}`;
    case 'boolean':
      return '`true` or `false`';
    case 'duration':
      return s.min ? `duration, at least ${formatDuration(s.min)}` : 'duration';
    case 'strings':
      return 'list of strings';
    case 'map':
      return s.secret ? 'mapping (values are secrets)' : 'mapping';
    case 'oneOf':
      return s.values.map(code).join(' or ');
    case 'secret':
      return 'string (a secret)';
    case 'custom':
      return s.type;
  }
}

function defaultOf(s: Setting): string {
  if (s.defaultText) return s.defaultText;
  switch (s.kind) {
    case 'duration':
      return code(formatDuration(s.fallback));
    case 'boolean':
    case 'oneOf':
      return code(String(s.fallback));
    case 'strings':
      return s.fallback ? code(`[${s.fallback.join(', ')}]`) : '**required**';
    case 'map':
      return code('{}');
    case 'custom':
      return code(s.fallbackText);
    case 'secret':
      return '(none)';
    case 'string':
    case 'integer':
      return s.fallback !== undefined ? code(String(s.fallback)) : s.optional ? '(none)' : '**required**';
  }
}

function sectionPage(path: string, section: AnySection, out: string[]): void {
  out.push(`## ${path ? code(path) : 'The top level'}`, '', section.description, '');
  out.push('| setting | type | default | what it is |', '|---|---|---|---|');
  const subsections: [string, AnySection][] = [];
  for (const [key, entry] of Object.entries(section.settings)) {
    const full = path ? `${path}.${key}` : key;
    if (entry.kind === 'section') {
      subsections.push([full, entry]);
      out.push(`| ${code(key)} | section | | ${cell(entry.description)} See [${full}](#${full.replace(/\./g, '')}). |`);
    } else
      out.push(`| ${code(key)} | ${cell(typeOf(entry))} | ${cell(defaultOf(entry))} | ${cell(entry.description)} |`);
  }
  if (!path)
    out.push(
      '| `deployments` | mapping | **required** | One overlay per deployment (`--deployment` picks one): any of the settings on this page, for that deployment only. |',
    );
  out.push('');
  for (const [full, sub] of subsections) sectionPage(full, sub, out);
}

export function renderReference(): string {
  const out = [
    '# baton.yaml reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`: edit the schema, not this page. -->',
    '',
    'Baton reads `baton.yaml` (or the file `--config` names) in layers: its top level, then the overlay under',
    '`deployments.<name>` for the deployment `--deployment` names, then flags (`--serial`), then',
    '`-e key.path=value` extra vars. Every value is checked before anything touches the fleet, and every',
    'problem is reported at once with its path, its value and the layer it came from.',
    '`baton config show --deployment <name>` prints the result, with where each value came from.',
    '',
    'Durations are written `500ms`, `10s`, `5m`, `1h` or `1m30s` (a bare number is seconds), at most 24h.',
    'Values may be encrypted with `ansible-vault` (`!vault`), and secrets may come from the environment',
    '(`${VAR}`) or HashiCorp Vault (`vault:<path>#<key>`) where a setting says so.',
    '',
  ];
  sectionPage('', CONFIG, out);
  return `${out.join('\n').trimEnd()}\n`;
}
