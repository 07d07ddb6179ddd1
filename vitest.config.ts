import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node (and, for the SSH tests, the machine's sshd binary);
// `fleet` starts the real local fleet (Docker, sshd, dockerd per host, registry, HAProxy, AWS emulator).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/aws-emulator/**/*.test.ts', 'test/ssh/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'fleet',
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
