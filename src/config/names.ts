/**
 * Stack, release and deployment names become EC2 tag filters (where `*` and `?` are wildcards) and S3
 * key prefixes (where `/` nests): letters, digits, `.`, `_` and `-` only.
 */
export function safeName(v: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v)
    ? undefined
    : 'may hold only letters, digits, ".", "_" and "-" (it is matched as an EC2 tag and used in S3 keys)';
}
