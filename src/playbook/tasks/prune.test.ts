import { describe, expect, it } from 'vitest';
import { imagesToRemove, repositoryOf } from './prune.ts';

describe('image pruning', () => {
  it('finds the repository of a reference, registry port and digest included', () => {
    expect(repositoryOf('registry:5000/baton/app:v2')).toBe('registry:5000/baton/app');
    expect(repositoryOf('registry:5000/baton/app')).toBe('registry:5000/baton/app');
    expect(repositoryOf('app@sha256:' + 'a'.repeat(64))).toBe('app');
    expect(repositoryOf('reg.example.com/team/app:1.2@sha256:' + 'b'.repeat(64))).toBe('reg.example.com/team/app');
  });

  it('keeps what containers use and the newest others, removes the rest', () => {
    const listed = [
      { id: 'sha256:5', ref: 'r/app:v5' },
      { id: 'sha256:4', ref: 'r/app:v4' },
      { id: 'sha256:3', ref: 'r/app:v3' },
      { id: 'sha256:3', ref: 'r/app:also-v3' },
      { id: 'sha256:2', ref: 'r/app:v2' },
      { id: 'sha256:1', ref: 'r/app:<none>' },
    ];
    const inUse = new Set(['sha256:5', 'sha256:2']);
    expect(imagesToRemove(listed, inUse, 1).map((i) => i.ref)).toEqual(['r/app:v3', 'r/app:also-v3', 'r/app:<none>']);
    expect(imagesToRemove(listed, inUse, 0).map((i) => i.ref)).toEqual([
      'r/app:v4',
      'r/app:v3',
      'r/app:also-v3',
      'r/app:<none>',
    ]);
    expect(imagesToRemove(listed, inUse, 5)).toEqual([]);
  });
});
