/** One JSON object per event, one per line, on stdout: for machines. */
import type { EventListener } from '../events/events.ts';

export function jsonReporter(out: NodeJS.WritableStream): EventListener {
  return (event) => out.write(`${JSON.stringify({ ...event, at: new Date(event.at).toISOString() })}\n`);
}
