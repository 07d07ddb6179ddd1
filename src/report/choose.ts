/** The renderer is chosen once, here at the edge; nothing else asks whether stdout is a terminal. */
import type { EventBus } from '../rollout/events.ts';
import { jsonReporter } from './json.ts';
import { listrReporter } from './listr.ts';
import { plainReporter } from './plain.ts';

export type ReporterName = 'auto' | 'tty' | 'plain' | 'json';

export interface Reporter {
  /** Stops listening; resolves once the renderer has drawn its last frame. */
  close(): Promise<void>;
}

export function chooseReporter(name: ReporterName, events: EventBus, out: NodeJS.WriteStream = process.stdout): Reporter {
  const resolved = name === 'auto' ? (out.isTTY && !process.env.CI ? 'tty' : 'plain') : name;
  if (resolved === 'tty') {
    const listr = listrReporter(out);
    const unsubscribe = events.subscribe(listr);
    return { close: async () => (await listr.finished, unsubscribe()) };
  }
  const unsubscribe = events.subscribe(resolved === 'json' ? jsonReporter(out) : plainReporter(out));
  return { close: async () => unsubscribe() };
}
