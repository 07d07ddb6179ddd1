/**
 * The linter holds the shape of src/ (eslint.config.js): these show each rule refusing what it is
 * there to refuse, so a config that silently stopped checking would fail here.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const eslint = new ESLint({ cwd: root });
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
});
