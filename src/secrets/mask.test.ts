import { describe, expect, it } from 'vitest';
import { declarePublic, maskDeep, maskSecrets, registerSecret, stringsOf } from './mask.ts';

describe('the secret mask', () => {
  it('masks free text, and drops a secret that is part of a name from the mask, saying so once, never its value', () => {
    registerSecret('us-east-1', 'container.env.REGION (${AWS_REGION})');
    registerSecret('s3cr3t-token', 'container.env.TOKEN (vault:secret/app#token)');
    expect(maskSecrets('region us-east-1, token s3cr3t-token')).toBe('region ***, token ***');
    const names = stringsOf({
      group: 'web-api-asg',
      membership: { arn: 'arn:aws:elasticloadbalancing:us-east-1:123:targetgroup/api/1' },
    });
    const warnings = declarePublic(names, 'a name in the journal');
    expect(warnings).toEqual([
      'the value of container.env.REGION (${AWS_REGION}) is a secret, but it is also part of a name in the journal (arn:aws:elasticloadbalancing:<that value>:123:targetgroup/api/1): ' +
        'a name is stored and printed as it is, so this value is not masked from here on; keep real secrets out of names',
    ]);
    expect(declarePublic(names)).toEqual([]);
    expect(maskSecrets('region us-east-1, token s3cr3t-token')).toBe('region us-east-1, token ***');
    expect(maskDeep({ a: ['s3cr3t-token'] })).toEqual({ a: ['***'] });
  });
});
