/** Which steps a manager deletes after a save (Python `CheckpointManager._get_old_steps_to_remove`). */
import { checkedPreservationFlags } from './preservationPolicy.js';
import type { PolicyCheckpointInfo, PreservationContext, PreservationPolicy } from './policyTypes.js';

/**
 * The steps of `checkpoints` that `policy` does not keep, in list order (the order Orbax deletes
 * them in). Call it right after appending the step just saved: nothing protects that step, so
 * `maxToKeep: 0` deletes it too, as in Orbax; steps without metrics survive `BestN` only through
 * its `keepCheckpointsWithoutMetrics`. Throws whatever the policy throws (e.g. a failing
 * `bestFn`), and {@link InvalidArgumentError} when it returns the wrong number of flags.
 */
export function stepsToDelete(
  checkpoints: readonly PolicyCheckpointInfo[],
  policy: PreservationPolicy,
  ctx: PreservationContext,
): number[] {
  const keep = checkedPreservationFlags(policy, checkpoints, ctx);
  return checkpoints.flatMap((info, i) => (keep[i] ? [] : [info.step]));
}
