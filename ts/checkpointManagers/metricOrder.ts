/**
 * Orders checkpoints by a metric the way Orbax does with Python's `sorted(key=..., reverse=...)`:
 * stable, and `reverse` keeps equal keys in their original order (so among equal metrics the
 * later checkpoint always ends up last, i.e. "best", in both directions).
 */
import { UnsupportedTypeError } from '../errors.js';
import type { PolicyCheckpointInfo } from './policyTypes.js';

/** Turns a checkpoint's metrics into the number it is ranked by. */
export type MetricFn = (metrics: Record<string, unknown>) => number;

/**
 * The indices of the checkpoints that have metrics, from worst to best: ascending by `metricFn`
 * (best = largest), or descending when `reverse` (best = smallest). `metricFn` is called once per checkpoint, in
 * list order, like Python's key function; whatever it throws propagates.
 *
 * NaN has no place in Python's ordering (where the result depends on the sort algorithm); here
 * a NaN metric always ranks worst, in both directions.
 */
export function orderByMetric(
  checkpoints: readonly PolicyCheckpointInfo[],
  metricFn: MetricFn,
  reverse: boolean,
): number[] {
  const keyed: { index: number; key: number }[] = [];
  for (const [index, info] of checkpoints.entries()) {
    if (info.metrics === null) continue;
    const key: unknown = metricFn(info.metrics);
    if (typeof key !== 'number') {
      throw new UnsupportedTypeError(`The metric function must return a number; got ${key === null ? 'null' : typeof key}.`);
    }
    keyed.push({ index, key });
  }
  // Array.prototype.sort is stable, and a flipped comparator keeps equal keys in list order,
  // which is exactly what Python's reverse=True does.
  keyed.sort((a, b) => {
    const aNaN = Number.isNaN(a.key);
    const bNaN = Number.isNaN(b.key);
    if (aNaN || bNaN) return aNaN === bNaN ? 0 : aNaN ? -1 : 1;
    if (a.key === b.key) return 0;
    return (a.key < b.key ? -1 : 1) * (reverse ? -1 : 1);
  });
  return keyed.map(({ index }) => index);
}
