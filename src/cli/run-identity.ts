/** Who runs Baton and which run this is: the names the lock, the journal and the history record. */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { extraVarKey, isSecretExtraVar, type DeployConfig } from '../config/index.ts';
import type { RunReplay } from '../state/journal.ts';

/** Who runs Baton, as the lock, the journal and the history record it. */
export const deployerName = () => process.env.BATON_DEPLOYER ?? userInfo().username;

/** A run's id, shared by its lock, journal and history entry: sortable by start time. */
export const runId = (startedAt: Date) => `${startedAt.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;

/** The CI build this run is part of, for the lock and the history. */
export function ciBuild(): string | undefined {
  const env = process.env;
  if (env.TEAMCITY_VERSION && env.BUILD_NUMBER)
    return `${env.TEAMCITY_BUILDCONF_NAME ?? 'TeamCity'} #${env.BUILD_NUMBER}`;
  return env.BUILD_URL;
}

/** The flags of a run that `baton resume` gives again. */
export interface ReplayFlags {
  readonly playbookFile?: string;
  readonly inventoryFile?: string;
  readonly serial?: string;
  readonly onFailure?: 'rollback' | 'stop';
  readonly limit?: string;
  readonly noLoadBalancer?: boolean;
  readonly canary?: string;
  readonly extraVars: readonly string[];
}

/** How this run can be run again (`baton resume`): what it was given, secrets by key only. */
export function replayOf(options: ReplayFlags, config: DeployConfig): RunReplay {
  const bastion = config.ssh.bastion;
  return {
    ...(options.playbookFile && { playbook: resolve(options.playbookFile) }),
    ...(options.inventoryFile && { inventory: resolve(options.inventoryFile) }),
    ...(options.serial !== undefined && { serial: options.serial }),
    ...(options.onFailure && { onFailure: options.onFailure }),
    ...(options.limit !== undefined && { limit: options.limit }),
    ...(options.noLoadBalancer && { noLoadBalancer: true }),
    // A timed canary: a resumed run bakes its first batch again (`confirm` needs the person, not a replay).
    ...(options.canary && options.canary !== 'confirm' && { canary: options.canary }),
    extraVars: options.extraVars.filter((e) => !isSecretExtraVar(e)),
    secretExtraVars: options.extraVars.filter(isSecretExtraVar).map(extraVarKey),
    ...(bastion && {
      bastion: { host: bastion.host, port: bastion.port, ...(bastion.user && { user: bastion.user }) },
    }),
  };
}
