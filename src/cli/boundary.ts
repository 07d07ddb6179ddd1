/**
 * Where errors end: every command throws, and `report` turns what it threw into a message, a TeamCity
 * build problem and an exit code (the table in errors.ts). Secrets are masked, outside text escaped.
 */
import { readFileSync } from 'node:fs';
import { BatonError, ExitCode } from '../errors.ts';
import { printable } from '../printable.ts';
import { problemIdentity, serviceMessage } from '../report/teamcity.ts';
import { maskSecrets } from '../secrets/mask.ts';

/** The version in package.json, found from the built or the source tree alike. */
export function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // Not here: the next level up.
    }
  }
  return 'unknown';
}

/** A command line Baton cannot read: exit 2, nothing changed. */
export class UsageError extends BatonError {
  override readonly exitCode = ExitCode.BadInput;
}

/** The one error boundary: an error as a message on stderr (and a TeamCity build problem), and its exit code. */
export function report(error: unknown): number {
  if (error instanceof Error) error.message = maskSecrets(error.message);
  if (error instanceof BatonError) {
    process.stderr.write(`baton: ${printable(error.message)}\n`);
    if (
      error.exitCode === ExitCode.BadInput ||
      error.exitCode === ExitCode.Locked ||
      error.exitCode === ExitCode.Unchanged
    )
      process.stderr.write('nothing on the fleet was changed\n');
    teamcityProblem(error.message, error.name);
    return error.exitCode;
  }
  const aws = awsProblem(error);
  if (aws) {
    // Raised before the guards (inventory, discovery): nothing changed. After them, the executor reports.
    process.stderr.write(`baton: ${aws}\nnothing on the fleet was changed\n`);
    teamcityProblem(aws, 'aws');
    return ExitCode.Unchanged;
  }
  process.stderr.write(
    `baton: unexpected error: ${printable(maskSecrets((error as Error)?.stack ?? String(error)))}\n`,
  );
  teamcityProblem(`unexpected error: ${String(error)}`, 'unexpected');
  return ExitCode.NeedsOperator;
}

/** Under TeamCity, an error that stops Baton before a run is also a build problem, one per kind of error. */
function teamcityProblem(description: string, kind: string): void {
  if (!process.env.TEAMCITY_VERSION) return;
  process.stdout.write(
    `${serviceMessage('buildProblem', { description: description.slice(0, 4000), identity: problemIdentity('error', kind) })}\n`,
  );
}

/** An AWS SDK error (a service answer, or no credentials) as one line an operator can act on. */
function awsProblem(error: unknown): string | undefined {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  if (e?.name === 'CredentialsProviderError') {
    return `AWS credentials not found: ${e.message} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance role applies)`;
  }
  if (e?.$metadata) {
    return `AWS answered ${e.name}${e.$metadata.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}: ${e.message}${e.$metadata.requestId ? ` [request ${e.$metadata.requestId}]` : ''}`;
  }
  return undefined;
}
