/**
 * Whether a missing tool (sshd, ssh-keygen, vagrant) fails the tests that need it instead of skipping
 * them: under CI, and under the README's test command (`scripts/test.sh`, which installs them all), a
 * skip would hide a missing install step. Only an ad-hoc `npx vitest` on a bare machine skips.
 */
export const requireTools = !!process.env.CI || process.env.BATON_TEST_REQUIRE_TOOLS === '1';
