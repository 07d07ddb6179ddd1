/** The renderer is chosen once, here at the edge; nothing else asks whether stdout is a terminal. */
import type { EventBus } from '../events/events.ts';
import { jsonReporter } from './json.ts';
import { listrReporter } from './listr.ts';
import { plainReporter } from './plain.ts';
import { teamcityReporter } from './teamcity.ts';

export type ReporterName = 'auto' | 'tty' | 'plain' | 'json' | 'teamcity';

export interface Reporter {
  /** Stops listening; resolves once the renderer has drawn its last frame. */
  close(): Promise<void>;
}

export function chooseReporter(
  name: ReporterName,
  events: EventBus,
  out: NodeJS.WriteStream = process.stdout,
): Reporter {
  // A TeamCity build step is detected from the variable every TeamCity agent sets.
  const resolved =
    name !== 'auto' ? name : process.env.TEAMCITY_VERSION ? 'teamcity' : out.isTTY && !process.env.CI ? 'tty' : 'plain';
  if (resolved === 'tty') {
    const listr = listrReporter(out);
    const unsubscribe = events.subscribe(listr);
    return { close: async () => (await listr.finished, unsubscribe()) };
  }
  const renderer =
    resolved === 'json' ? jsonReporter(out) : resolved === 'teamcity' ? teamcityReporter(out) : plainReporter(out);
  const unsubscribe = events.subscribe(renderer);
  return { close: async () => unsubscribe() };
}
