import { describe, expect, it } from 'vitest';
import { planRollout } from './plan.ts';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);
const sizes = (n: number, serial: Parameters<typeof planRollout>[1]['serial'], minInService = 0) =>
  planRollout(hosts(n), { serial, maxFailPercentage: 0, minInService }).batches.map((b) => b.length);

describe('planRollout', () => {
  it('takes a count at a time, the last batch holding the rest', () => {
    expect(sizes(5, 2)).toEqual([2, 2, 1]);
    expect(sizes(3, 1)).toEqual([1, 1, 1]);
  });

  it('rounds a percentage down, never below one host', () => {
    expect(sizes(10, '25%')).toEqual([2, 2, 2, 2, 2]);
    expect(sizes(3, '10%')).toEqual([1, 1, 1]);
    expect(sizes(4, '100%')).toEqual([4]);
  });

  it('ramps through a list and repeats its last step', () => {
    expect(sizes(10, [1, '25%', '100%'])).toEqual([1, 2, 7]);
    expect(sizes(8, [1, 3])).toEqual([1, 3, 3, 1]);
  });

  it('keeps hosts in order', () => {
    expect(planRollout(hosts(3), { serial: 2, maxFailPercentage: 0, minInService: 0 }).batches).toEqual([
      ['h1', 'h2'],
      ['h3'],
    ]);
  });

  it('caps batches so the capacity floor stays in service', () => {
    expect(sizes(4, '100%', 2)).toEqual([2, 2]);
    expect(sizes(4, [1, 4], 3)).toEqual([1, 1, 1, 1]);
  });

  it('refuses a floor that leaves no host free to leave service', () => {
    expect(() => sizes(2, 1, 2)).toThrow(
      /rollout.minInService: 2 hosts must stay in service, but only 2 hosts are targeted/,
    );
  });

  it('stops when a batch fails beyond max_fail_percentage (Ansible: strictly more than)', () => {
    const strict = planRollout(hosts(4), { serial: 4, maxFailPercentage: 0, minInService: 0 });
    expect(strict.shouldStop(0, 4)).toBe(false);
    expect(strict.shouldStop(1, 4)).toBe(true);
    const lenient = planRollout(hosts(4), { serial: 4, maxFailPercentage: 25, minInService: 0 });
    expect(lenient.shouldStop(1, 4)).toBe(false);
    expect(lenient.shouldStop(2, 4)).toBe(true);
  });

  it('plans nothing for no hosts', () => {
    expect(sizes(0, 1)).toEqual([]);
  });
});
