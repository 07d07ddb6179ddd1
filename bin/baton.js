#!/usr/bin/env node
// The AWS SDK warns on every run under Node 20 that its 2027 releases need Node 22; Baton supports
// Node >= 20.19 and says so itself, so that warning must not clutter deploy output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Loading code is most of Baton's start-up. Node >= 22.1 can keep the bundle's compiled code between
// runs; Node 20 has no such cache and simply starts slower.
const { default: nodeModule } = await import('node:module');
nodeModule.enableCompileCache?.();
let main;
try {
  ({ main } = await import('../dist/bundle/main.js'));
} catch (error) {
  // A checkout that was never built: say how, rather than print a module-resolution stack.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/bundle/main.js')) throw error;
  process.stderr.write(
    'baton: this copy of baton is not built: run `npm run build` in its folder (an installed package ships it built)\n',
  );
  process.exit(2);
}
process.exitCode = await main(process.argv.slice(2));
