/**
 * The changes a run makes to the fleet, each kind in its own module, registered here in a type mapped
 * over the kinds: a kind without a module, or a module without one of what `ChangeKind` asks, does not
 * compile. The journal, `baton lock status`, `recover --check`, an undo that failed and the undo itself
 * all go through here, so they all say and do the same thing.
 */
import { alarmsDisabled, type AlarmsDisabled } from './alarms-disabled.ts';
import { autoscalingSuspended, type AutoscalingSuspended } from './autoscaling-suspended.ts';
import type { ChangeKind, JournalHost, UndoContext } from './change.ts';
import { containerReplaced, type ContainerReplaced } from './container-replaced.ts';
import { deregistered, type Deregistered } from './deregistered.ts';

export { hostLabel, journalHost, type ChangeKind, type JournalHost, type UndoContext } from './change.ts';
export type { AlarmsDisabled, AutoscalingSuspended, ContainerReplaced, Deregistered };

/** What a change was, with what Baton needs to undo it without the run that made it. */
export type Change = AutoscalingSuspended | AlarmsDisabled | Deregistered | ContainerReplaced;

/** Every kind, with its module. */
export type ChangeKinds = { readonly [K in Change['kind']]: ChangeKind<Extract<Change, { kind: K }>> };

const KINDS: ChangeKinds = {
  'autoscaling-suspended': autoscalingSuspended,
  'alarms-disabled': alarmsDisabled,
  deregistered,
  'container-replaced': containerReplaced,
};

/** The kinds of change this Baton knows how to undo. */
export const CHANGE_KINDS = Object.keys(KINDS) as readonly Change['kind'][];

/** The module of `change`'s kind, typed for that change. */
const kindOf = <C extends Change>(change: C) => KINDS[change.kind] as unknown as ChangeKind<C>;

export const describeChange = (change: Change): string => kindOf(change).describe(change);
/** The command that undoes `change` by hand, shell-quoted. */
export const fixCommand = (change: Change, region: string): string => kindOf(change).fix(change, region);
/** The name of the step that undoes `change`, as progress shows it. */
export const undoStep = (change: Change): string => kindOf(change).undoStep;
export const wouldUndo = (change: Change, what: string): string => kindOf(change).wouldUndo(change, what);
/** The host `change` was made on, if it was made on one. */
export const changeHost = (change: Change): JournalHost | undefined => kindOf(change).host?.(change);
export const undoChange = (change: Change, ctx: UndoContext): Promise<string | void> =>
  kindOf(change).undo(change, ctx);
