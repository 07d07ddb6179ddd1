import { availableParallelism } from 'node:os';
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
          include: [
            'src/**/*.test.ts',
            'test/unit/**/*.test.ts',
            'test/aws-emulator/**/*.test.ts',
            'test/vault-emulator/**/*.test.ts',
            'test/ssh/**/*.test.ts',
          ],
          testTimeout: 30_000,
          // One worker per core: vitest's default leaves one of two cores idle, and these files are
          // short and independent (on 2 cores: 61 s instead of 112 s).
          maxWorkers: availableParallelism(),
          // Before the fleet (a group of its own: its worker count differs), so the unit tests never
          // share 2 cores with three fleets and their 30 s limits stay honest.
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'fleet',
          env,
          include: ['test/fleet/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          // A sandbox start waits at most 4 minutes for a start slot, is given up at 6 minutes and tried
          // once more (test/fleet/sandbox.ts); the hook's limit is above all of that, so a failed start
          // reports its own phases rather than this limit.
          hookTimeout: 1_200_000,
          globalSetup: ['test/fleet/global-setup.ts'],
          // Three fleets at a time: a fleet's tests mostly wait (drains, health checks, SSH round
          // trips), so three keep 2 cores busy without starving one. Each fleet is its own: its own
          // containers, networks and ports (see test/fleet/fleet.ts).
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
