import { describe, expect, it } from 'vitest';
import { imageReferenceProblem } from './image.ts';

describe('image references, as Docker reads them', () => {
  it.each([
    'app',
    'app:v2',
    'registry:5000/baton/app:v2',
    'registry.example.com/team/api:2.4.1',
    'localhost:5000/a/b/c:latest',
    '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:2024-11-01_1',
    'app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'my_app__x/sub-name.v2:TAG_1.0-rc',
    '[::1]:5000/app:v1',
  ])('takes %s', (ref) => expect(imageReferenceProblem(ref)).toBeUndefined());

  it.each([
    ['reg/app:1;rm -rf /', 'is not an image reference'],
    ['--quiet', 'starts with "-"'],
    ['-app', 'starts with "-"'],
    ['app:', 'is not an image reference'],
    ['app:v1 v2', 'is not an image reference'],
    ['App:v1', 'repository names are lower case'],
    ['app:$(id)', 'is not an image reference'],
    ['app:`id`', 'is not an image reference'],
    ["app:v1'", 'is not an image reference'],
    ['app:v1\nv2', 'is not an image reference'],
    ['', 'is not an image reference'],
    [`app:${'x'.repeat(129)}`, 'is not an image reference'],
    ['app@sha256:short', 'is not an image reference'],
  ])('refuses %j', (ref, problem) => expect(imageReferenceProblem(ref)).toContain(problem));
});
