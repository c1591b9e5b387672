/** The manager's save gate (Python `CheckpointManager.should_save`), minus the logging. */
import type { DecisionContext, PolicyCheckpointInfo, SaveDecisionPolicy } from './policyTypes.js';

/** The options {@link shouldSaveStep} reads (a resolved `CheckpointManagerOptions` fits). */
export interface SaveGateOptions {
  readonly readOnly: boolean;
  readonly saveDecisionPolicy: SaveDecisionPolicy;
  readonly enableShouldSaveIsSavingInProgressCheck: boolean;
}

/**
 * Whether the manager saves `step`: never when read-only, never for a step not after the last
 * entry of `checkpoints` (the last one saved, not the largest), otherwise as the policy decides,
 * seeing the step with `time = ctx.now` and no metrics. With
 * `enableShouldSaveIsSavingInProgressCheck` off the policy is told no save is in progress.
 */
export function shouldSaveStep(
  step: number,
  checkpoints: readonly PolicyCheckpointInfo[],
  options: SaveGateOptions,
  ctx: DecisionContext,
): boolean {
  if (options.readOnly) return false;
  const latest = checkpoints.at(-1);
  if (latest !== undefined && latest.step >= step) return false;
  const context = options.enableShouldSaveIsSavingInProgressCheck ? ctx : { ...ctx, isSavingInProgress: false };
  return options.saveDecisionPolicy.shouldSave({ step, time: ctx.now, metrics: null }, checkpoints, context);
}
