import { describe, expect, it } from 'vitest';
import { isAwsRegion } from './region.ts';

describe('isAwsRegion', () => {
  it('takes the shapes AWS gives its regions, and nothing else', () => {
    for (const r of ['eu-west-1', 'us-gov-west-1', 'cn-northwest-1', 'us-isob-east-1', 'ap-southeast-7', 'xx-east-12'])
      expect(isAwsRegion(r), r).toBe(true);
    for (const r of ['', 'us-east', 'US-EAST-1', 'us_east_1', 'us-east-1a', 'east-1', 'us-east-1 ', '-us-east-1'])
      expect(isAwsRegion(r), JSON.stringify(r)).toBe(false);
  });
});
