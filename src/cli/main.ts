/**
 * The command line: the commands (commands.ts) and their options (options.ts) on one yargs parser, and
 * the one error boundary (boundary.ts): everything below throws; here errors become messages and exit
 * codes.
 */
import yargs, { type Argv } from 'yargs';
import { ExitCode } from '../errors.ts';
import { report, UsageError, version } from './boundary.ts';
import { inspectCommands, recoverCommands, rolloutCommands, vaultCommands, type Run } from './commands.ts';

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const run: Run = async (command) => {
    exitCode = await command();
  };
  try {
    const parser = yargs(argv).scriptName('baton').usage('$0 <command> [options]');
    skipHelpCache(parser);
    await vaultCommands(inspectCommands(recoverCommands(rolloutCommands(parser, run), run), run), run)
      .option('vault-id', {
        type: 'string',
        nargs: 1,
        global: true,
        describe:
          'an Ansible Vault password: label@file, label@prompt, or a file (as ansible-vault; repeat for several)',
      })
      .option('vault-password-file', {
        type: 'string',
        nargs: 1,
        global: true,
        describe: 'an Ansible Vault password file (the default vault id)',
      })
      .demandCommand(1, 'say what to do: baton deploy --help')
      .strict()
      .recommendCommands()
      .completion('completion', 'print a shell completion script')
      .help()
      .version('version', 'print the version of baton', version())
      .alias('version', 'V')
      .fail((message, error) => {
        throw error ?? new UsageError(message);
      })
      .parseAsync();
  } catch (error) {
    return report(error);
  }
  return exitCode;
}

/**
 * yargs renders a command's whole help text as it starts the command, in case the handler later asks
 * for it (`showHelp`); Baton never does, and its failures are messages (`fail` above), never the help.
 * That rendering cost about 45 ms of CPU in every run (`baton lock status`, 30 pairs), so it is skipped.
 */
function skipHelpCache(parser: Argv): void {
  type Internal = { getInternalMethods?(): { getUsageInstance(): { cacheHelpMessage(): void } } };
  const usage = (parser as Internal).getInternalMethods?.().getUsageInstance();
  if (usage) usage.cacheHelpMessage = () => undefined;
}
