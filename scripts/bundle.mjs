// The CLI and the playbook API as one bundle (dist/bundle), built from tsc's output in dist/src.
//
// Why: a run's start-up was mostly loading code. The AWS SDK's client packages ship every command of
// their service in one CommonJS file (EC2's is 2 MB) and Node compiles and runs all of it; bundled
// from their ES modules, only the clients and commands named in src/aws/sdk.ts are kept, with the
// schemas they reach. A deploy needs about 60 MB less memory and a quarter less CPU (bench/startup.ts).
//
// The two entries share their chunks, so a playbook's `import ... from 'baton'` (package.json's
// export, dist/bundle/index.js) gets the very modules the CLI (dist/bundle/main.js) runs: one copy of
// each task and error class. Run by `npm run build`, after tsc.
import { rmSync } from 'node:fs';
import { build } from 'rolldown';

// Not bundled: loaded only when needed and kept as their authors ship them. tsx compiles a user's
// playbook (and registers itself globally); ssh2 loads its optional native crypto at run time;
// node-vault-client is needed only for HashiCorp Vault secrets.
const external = [/^tsx(\/|$)/, /^ssh2(\/|$)/, /^cpu-features$/, /^node-vault-client$/];

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  input: { main: './dist/src/cli/main.js', index: './dist/src/index.js' },
  platform: 'node',
  external,
  // The SDK's ES modules (its `module` field): what lets the bundler drop the commands Baton never sends.
  resolve: { mainFields: ['module', 'main'] },
  output: { dir: 'dist/bundle', format: 'esm', chunkFileNames: '[name]-[hash].js' },
  logLevel: 'warn',
  // A warning (an import that did not resolve) fails the build rather than a deploy at run time.
  onLog(level, log, handler) {
    if (level === 'warn') handler('error', log);
    else handler(level, log);
  },
});
