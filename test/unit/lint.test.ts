/**
 * The linter holds the shape of src/ (eslint.config.js): these show each rule refusing what it is
 * there to refuse, so a config that silently stopped checking would fail here.
 */
import { readFileSync } from 'node:fs';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const eslint = new ESLint({ cwd: root });
// The config, to read its table of files still over the limits.
const { OVER_THE_LIMITS } = (await import(`${root}eslint.config.js`)) as {
  OVER_THE_LIMITS: Record<string, Record<string, number>>;
};

async function problems(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('the linter', () => {
  it('refuses an import against the layering, naming both layers', async () => {
    const found = await problems(
      'src/aws/probe.ts',
      "import { planRollout } from '../rollout/plan.ts';\nexport const p = planRollout;\n",
    );
    expect(found).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*src\/aws\/ is in layer 2 .*src\/rollout\/ is in layer 7/),
    ]);
    // Siblings of one layer do not import each other; lower layers and base files are fine.
    expect(
      await problems('src/ssh/probe.ts', "import { Alarms } from '../aws/alarms.ts';\nexport const a = Alarms;\n"),
    ).toHaveLength(1);
    expect(
      await problems(
        'src/ssh/probe.ts',
        "import type { SshSettings } from '../config/types.ts';\nimport { op } from '../remote/command.ts';\nexport const s = op as unknown as SshSettings;\n",
      ),
    ).toEqual([]);
  });

  it('keeps quote() to the sh template', async () => {
    const text = "import { quote } from '../remote/shell.ts';\nexport const q = quote('x');\n";
    expect(await problems('src/rollout/probe.ts', text)).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*sh template/),
    ]);
  });

  it('refuses a function over 80 lines and a file over 300 in src/, comments and blank lines not counted', async () => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  const _v${i} = ${i};`).join('\n');
    const fn = (n: number) => `export function f() {\n${body(n)}\n  return 0;\n}\n`;
    expect(await problems('src/rollout/probe.ts', fn(77))).toEqual([]);
    expect(await problems('src/rollout/probe.ts', fn(79))).toEqual([
      expect.stringMatching(/^max-lines-per-function: /),
    ]);
    expect(
      await problems('src/rollout/probe.ts', `// why\n\n${fn(77).replace('{\n', '{\n  // a comment\n\n')}`),
    ).toEqual([]);
    const file = Array.from({ length: 301 }, (_, i) => `export const c${i} = ${i};`).join('\n');
    expect(await problems('src/rollout/probe.ts', `${file}\n`)).toEqual([expect.stringMatching(/^max-lines: /)]);
  });

  it('lists each file still over the limits at its length today, so the list only ever shrinks', async () => {
    // Each file under the plain limits: what it measures now must be what the table says.
    const plain = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: [
        { files: ['**/*.ts'], languageOptions: { parser: (await import('typescript-eslint')).parser } },
        {
          files: ['**/*.ts'],
          rules: {
            'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
            'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
          },
        },
      ],
    });
    for (const [file, limits] of Object.entries(OVER_THE_LIMITS)) {
      const text = readFileSync(`${root}${file}`, 'utf8');
      const [result] = await plain.lintText(text, { filePath: `${root}${file}` });
      const measured: Record<string, number> = {};
      for (const m of result!.messages) {
        const n = Number(/\((\d+)\)/.exec(m.message)?.[1]);
        measured[m.ruleId!] = Math.max(measured[m.ruleId!] ?? 0, n);
      }
      expect(measured, `${file}: set its entry in OVER_THE_LIMITS (eslint.config.js) to what it measures now`).toEqual(
        limits,
      );
    }
  });
});
