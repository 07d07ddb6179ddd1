/**
 * The pace of a rollout between batches, as a person sets it: `--step` asks before each batch (at a
 * terminal, like Ansible's --step), and `--canary confirm` waits after the first batch until someone
 * at the terminal says go. (`--canary <duration>` is the release gate's bake: rollout/gate.ts.)
 */
import { createInterface } from 'node:readline';
import { MAX_DURATION_MS, parseDuration } from '../config/reader.ts';
import type { InterruptController } from '../rollout/interrupt.ts';
import { ConfigError } from '../errors.ts';

export type Canary = { readonly watchMs: number } | { readonly confirm: true };

/** `--canary 5m` or `--canary confirm`; a clear error otherwise. */
export function parseCanary(value: string | undefined): Canary | undefined {
  if (value === undefined) return undefined;
  if (value === 'confirm') return { confirm: true };
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new ConfigError('--canary', `${JSON.stringify(value)} is neither a duration (like 30s or 5m) nor "confirm"`);
  if (ms > MAX_DURATION_MS)
    throw new ConfigError('--canary', `${JSON.stringify(value)} is too long (at most ${MAX_DURATION_MS / 3_600_000}h)`);
  return { watchMs: ms };
}

export interface PaceOptions {
  readonly step: boolean;
  readonly canary?: Canary;
  readonly interrupt: InterruptController;
}

/**
 * Whether the pace asks at the terminal; refuses, before anything changes, one that needs a person
 * where there is none.
 */
export function checkPaceNeedsTerminal(
  options: { step: boolean; canary?: Canary },
  input: NodeJS.ReadStream = process.stdin,
): boolean {
  const asks = options.step ? '--step' : options.canary && 'confirm' in options.canary ? '--canary confirm' : undefined;
  if (!asks) return false;
  if (process.env.TEAMCITY_VERSION)
    throw new ConfigError(
      asks,
      'asks at a terminal, and a TeamCity build never prompts: use --canary <duration> to pause after the first batch',
    );
  if (!input.isTTY)
    throw new ConfigError(
      asks,
      'asks at a terminal, and standard input is not one: use --canary <duration> to pause after the first batch',
    );
  return true;
}

export function pace(
  options: PaceOptions,
): ((batch: { index: number; of: number; hosts: string[]; previous?: string[] }) => Promise<boolean>) | undefined {
  const { canary, interrupt } = options;
  if (!options.step && !canary) return undefined;
  let asking = options.step;
  return async ({ index, of, hosts, previous }) => {
    if (index === 2 && canary && 'confirm' in canary && previous) {
      const answer = await ask(
        `canary ${previous.join(', ')} is live on the new image. Go on with the other ${of - 1} batch${of - 1 === 1 ? '' : 'es'}? [y/N] `,
        interrupt,
      );
      if (answer !== 'y' && answer !== 'yes') return false;
    }
    if (!asking) return true;
    for (;;) {
      const answer = await ask(
        `batch ${index}/${of} (${hosts.join(', ')}): deploy? [y]es, [n]o: stop here, [c]ontinue without asking: `,
        interrupt,
      );
      if (answer === 'y' || answer === 'yes') return true;
      if (answer === 'c' || answer === 'continue') {
        asking = false;
        return true;
      }
      if (answer === 'n' || answer === 'no' || interrupt.stopRequested) return false;
    }
  };
}

/** One answer from the terminal, lower-cased; Ctrl-C at the prompt counts as an interrupt and "no". */
function ask(question: string, interrupt: InterruptController): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // Resolve before closing: closing emits 'close', which answers "no" to a prompt left unanswered.
    const finish = (answer: string) => {
      resolve(answer.trim().toLowerCase());
      rl.close();
    };
    rl.on('SIGINT', () => {
      process.stderr.write('\n');
      interrupt.request();
      finish('n');
    });
    rl.on('close', () => resolve('n'));
    rl.question(question, finish);
  });
}
