/** Writes docs/configuration.md from the configuration schema (src/config/schema.ts). */
import { writeFileSync } from 'node:fs';
import { renderReference } from '../src/config/reference.ts';

const page = new URL('../docs/configuration.md', import.meta.url);
writeFileSync(page, renderReference());
process.stdout.write(`wrote ${page.pathname}\n`);
