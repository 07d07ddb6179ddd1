/** Baton's public API: what playbooks import from 'baton'. */
export * from './playbook/index.ts';
export type { DeployConfig } from './config/index.ts';
export type { Host } from './inventory/host.ts';
export type { DeployEvent } from './events/events.ts';
export { BatonError, ConfigError, ExitCode, RemoteCommandError, TimeoutError } from './errors.ts';
export { op, script, type Command } from './remote/command.ts';
export type { ExecResult, RemoteHost } from './remote/host.ts';
