/**
 * Save-decision policies of Orbax 0.12.8 (`ocp.checkpoint_managers.*Policy`): each answers
 * "should the manager save this step?" from the step, the checkpoints it already has and a
 * {@link DecisionContext}.
 */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import { validated } from './validate.js';
import type { DecisionContext, PolicyCheckpointInfo, SaveDecisionPolicy } from './policyTypes.js';

const stepSchema = z.number().int();

/** Accepts any object with a `shouldSave` method. */
export const saveDecisionPolicySchema = z.custom<SaveDecisionPolicy>(
  (value) => typeof value === 'object' && value !== null && typeof (value as SaveDecisionPolicy).shouldSave === 'function',
  { message: 'Expected a SaveDecisionPolicy (an object with a shouldSave method)' },
);

const functionSchema = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', {
  message: 'Expected a function',
});

/** Saves every step that is a multiple of `interval` (Python `FixedIntervalPolicy`). */
export class FixedIntervalPolicy implements SaveDecisionPolicy {
  readonly interval: number;

  /**
   * `interval` 0 is accepted here, as in Python, because a read-only manager carries one; using
   * it throws (Python divides by zero).
   */
  constructor(interval: number) {
    this.interval = validated(stepSchema, interval, 'FixedIntervalPolicy interval');
  }

  shouldSave(step: PolicyCheckpointInfo, _previous: readonly PolicyCheckpointInfo[], _ctx: DecisionContext): boolean {
    if (this.interval === 0) {
      throw new InvalidArgumentError('FixedIntervalPolicy interval must not be 0 (integer modulo by zero).');
    }
    // `%` differs from Python's for negative operands only in sign, never in being zero.
    return step.step % this.interval === 0;
  }
}

/** Saves exactly the listed steps (Python `SpecificStepsPolicy`). */
export class SpecificStepsPolicy implements SaveDecisionPolicy {
  readonly steps: ReadonlySet<number>;

  constructor(steps: Iterable<number>) {
    this.steps = new Set(validated(z.array(stepSchema), [...steps], 'SpecificStepsPolicy steps'));
  }

  shouldSave(step: PolicyCheckpointInfo, _previous: readonly PolicyCheckpointInfo[], _ctx: DecisionContext): boolean {
    return this.steps.has(step.step);
  }
}

/** Saves when the manager has no checkpoint yet (Python `InitialSavePolicy`). */
export class InitialSavePolicy implements SaveDecisionPolicy {
  shouldSave(_step: PolicyCheckpointInfo, previous: readonly PolicyCheckpointInfo[], _ctx: DecisionContext): boolean {
    return previous.length === 0;
  }
}

/**
 * Saves when the job is being preempted (Python `PreemptionCheckpointingPolicy`). Node has no
 * preemption signal, so the manager always passes `reachedPreemption: false`.
 */
export class PreemptionCheckpointingPolicy implements SaveDecisionPolicy {
  shouldSave(_step: PolicyCheckpointInfo, _previous: readonly PolicyCheckpointInfo[], ctx: DecisionContext): boolean {
    return ctx.reachedPreemption;
  }
}

/** Options of {@link ContinuousCheckpointingPolicy}. */
export interface ContinuousCheckpointingPolicyOptions {
  /** Minimum seconds between the last checkpoint's time and the step's; `null` = no minimum. */
  minimumIntervalSecs?: number | null;
}

const continuousSchema = z.object({ minimumIntervalSecs: z.number().nullable().optional() }).strict();

/**
 * Saves as often as possible: never while a save is in progress, and not sooner than
 * `minimumIntervalSecs` after the last checkpoint (Python `ContinuousCheckpointingPolicy`).
 */
export class ContinuousCheckpointingPolicy implements SaveDecisionPolicy {
  readonly minimumIntervalSecs: number | null;

  constructor(options: ContinuousCheckpointingPolicyOptions = {}) {
    const parsed = validated(continuousSchema, options, 'ContinuousCheckpointingPolicy options');
    this.minimumIntervalSecs = parsed.minimumIntervalSecs ?? null;
  }

  shouldSave(step: PolicyCheckpointInfo, previous: readonly PolicyCheckpointInfo[], ctx: DecisionContext): boolean {
    if (ctx.isSavingInProgress) return false;
    const last = previous.at(-1);
    if (last === undefined || this.minimumIntervalSecs === null) return true;
    return step.time.getTime() - last.time.getTime() >= this.minimumIntervalSecs * 1000;
  }
}

/** Saves when any of its policies says so, asking them in order (Python `AnySavePolicy`). */
export class AnySavePolicy implements SaveDecisionPolicy {
  readonly policies: readonly SaveDecisionPolicy[];

  constructor(policies: Iterable<SaveDecisionPolicy>) {
    this.policies = validated(z.array(saveDecisionPolicySchema), [...policies], 'AnySavePolicy policies');
  }

  shouldSave(step: PolicyCheckpointInfo, previous: readonly PolicyCheckpointInfo[], ctx: DecisionContext): boolean {
    // Short-circuits like Python's any(): later policies are not consulted once one says yes.
    return this.policies.some((policy) => policy.shouldSave(step, previous, ctx));
  }
}

/** The manager's `shouldSaveFn(step, lastSavedStep)` (Python's private `_ShouldSaveFnPolicy`). */
export class ShouldSaveFnPolicy implements SaveDecisionPolicy {
  readonly shouldSaveFn: (step: number, lastSavedStep: number | null) => boolean;

  constructor(shouldSaveFn: (step: number, lastSavedStep: number | null) => boolean) {
    this.shouldSaveFn = validated(functionSchema, shouldSaveFn, 'shouldSaveFn') as typeof shouldSaveFn;
  }

  shouldSave(step: PolicyCheckpointInfo, previous: readonly PolicyCheckpointInfo[], _ctx: DecisionContext): boolean {
    return this.shouldSaveFn(step.step, previous.at(-1)?.step ?? null);
  }
}

/** True when `policy` is, or directly contains, a {@link ContinuousCheckpointingPolicy}. */
export function isContinuousCheckpointingEnabled(policy: SaveDecisionPolicy | null): boolean {
  const policies = policy instanceof AnySavePolicy ? policy.policies : [policy];
  return policies.some((p) => p instanceof ContinuousCheckpointingPolicy);
}
