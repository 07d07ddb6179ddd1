/**
 * Once before the fleet project: the base and app images every sandbox runs, so that the files the
 * project runs side by side find them built instead of building them at the same time.
 */
import { ensureAppImages, ensureBaseImage } from './images.ts';

export default async function buildImagesOnce(): Promise<void> {
  const log = (line: string) => process.stderr.write(`fleet: ${line}\n`);
  await Promise.all([ensureBaseImage(log), ensureAppImages(log)]);
}
