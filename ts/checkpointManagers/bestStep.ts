/** The manager's best step (Python `CheckpointManager.best_step`). */
import { type MetricFn, orderByMetric } from './metricOrder.js';
import type { PolicyCheckpointInfo } from './policyTypes.js';

/** The options {@link bestStep} reads (a resolved `CheckpointManagerOptions` fits). */
export interface BestStepOptions {
  readonly bestFn: MetricFn | null;
  readonly bestMode: 'max' | 'min';
}

/**
 * Without `bestFn`: the last entry's step (the latest saved). With it: the best step among those
 * with metrics (largest metric for `max`, smallest for `min`, the later one on ties); `null`
 * when no checkpoint has metrics. Throws whatever `bestFn` throws.
 */
export function bestStep(checkpoints: readonly PolicyCheckpointInfo[], options: BestStepOptions): number | null {
  if (options.bestFn === null) return checkpoints.at(-1)?.step ?? null;
  const best = orderByMetric(checkpoints, options.bestFn, options.bestMode === 'min').at(-1);
  return best === undefined ? null : (checkpoints[best]?.step ?? null);
}
