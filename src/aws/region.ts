/** One rule for what names an AWS region, wherever Baton reads one (baton.yaml, an aws_ec2 inventory). */
export function isAwsRegion(value: string): boolean {
  // eu-west-1, us-gov-west-1, cn-northwest-1, us-isob-east-1; the number may grow past 9.
  return /^[a-z]{2}(-[a-z]+)+-\d+$/.test(value);
}

/** The configuration's check of a region setting: what is wrong with `value`, or nothing. */
export const regionProblem = (value: string): string | undefined =>
  isAwsRegion(value) ? undefined : 'is not an AWS region (like eu-west-1)';
