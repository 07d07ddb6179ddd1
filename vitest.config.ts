import { defineConfig } from 'vitest/config';

// The SDK's notice that its 2027 releases need Node 22: Baton supports Node >= 20.19 on purpose.
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

// Two projects: `unit` needs nothing but Node (and, for the SSH tests, the machine's sshd binary);
// `fleet` starts the real local fleet (Docker, sshd, dockerd per host, registry, HAProxy, AWS emulator).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          env,
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/aws-emulator/**/*.test.ts', 'test/vault-emulator/**/*.test.ts', 'test/ssh/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'fleet',
          env,
          include: ['test/fleet/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          // One fleet at a time: the machine has 2 cores and every host runs its own dockerd.
          fileParallelism: false,
        },
      },
    ],
  },
});
