/**
 * The types shared by the save-decision and preservation policies (Python
 * `orbax.checkpoint.checkpoint_managers`). Policies are pure: everything they may depend on
 * (the clock included) arrives through their arguments, so a manager can be replayed in tests.
 */

/** What a policy knows about one checkpoint (Python `PolicyCheckpointInfo`). */
export interface PolicyCheckpointInfo {
  readonly step: number;
  /** Commit time of a saved checkpoint; for the step being decided on, the time of the decision. */
  readonly time: Date;
  /** The metrics saved with the step, or `null` when it has none. */
  readonly metrics: Record<string, unknown> | null;
}

/** Facts about the manager a save decision may depend on (Python `DecisionContext`). */
export interface DecisionContext {
  /** A previous save is still being committed in the background. */
  readonly isSavingInProgress: boolean;
  /** The job is being preempted (never the case in Node; kept for custom policies). */
  readonly reachedPreemption: boolean;
  /** The time of the decision. */
  readonly now: Date;
}

/**
 * Facts a preservation decision may depend on (Python `PreservationContext`, which is empty:
 * Python's `LatestDuration` reads the clock itself, ours reads `now` so that it stays pure).
 */
export interface PreservationContext {
  readonly now: Date;
}

/** Decides whether a step is saved (Python `SaveDecisionPolicy`). */
export interface SaveDecisionPolicy {
  /**
   * @param step the step being decided on (its `time` is the decision time, `metrics` null)
   * @param previous the checkpoints the manager knows, in its order (oldest first)
   */
  shouldSave(step: PolicyCheckpointInfo, previous: readonly PolicyCheckpointInfo[], ctx: DecisionContext): boolean;
}

/** Decides which checkpoints are kept (Python `PreservationPolicy`). */
export interface PreservationPolicy {
  /** One flag per entry of `checkpoints` (same order): `true` keeps it. */
  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], ctx: PreservationContext): boolean[];
}
