/**
 * Preservation policies of Orbax 0.12.8 (`ocp.checkpoint_managers.*`): each returns one
 * keep/drop flag per checkpoint of the list it is given, in that list's order. They see the
 * manager's list as it is (oldest first, including the step just saved) and do not sort it.
 */
import { z } from 'zod';

import { InvalidArgumentError } from '../errors.js';
import { validated } from './validate.js';
import { type MetricFn, orderByMetric } from './metricOrder.js';
import type { PolicyCheckpointInfo, PreservationContext, PreservationPolicy } from './policyTypes.js';

const countSchema = z.number().int().nonnegative().nullable();
const stepSchema = z.number().int();

/** Accepts any object with a `shouldPreserve` method. */
export const preservationPolicySchema = z.custom<PreservationPolicy>(
  (value) =>
    typeof value === 'object' && value !== null && typeof (value as PreservationPolicy).shouldPreserve === 'function',
  { message: 'Expected a PreservationPolicy (an object with a shouldPreserve method)' },
);

/** Keeps every checkpoint (Python `PreserveAll`). */
export class PreserveAll implements PreservationPolicy {
  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    return checkpoints.map(() => true);
  }
}

/**
 * Keeps the last `n` entries of the list; `null` keeps all, `0` keeps none (Python `LatestN`).
 * Negative `n` is rejected (Python returns a list of the wrong length).
 */
export class LatestN implements PreservationPolicy {
  readonly n: number | null;

  constructor(n: number | null | { n?: number | null } = null) {
    const value = typeof n === 'object' && n !== null ? n.n : n;
    this.n = validated(countSchema.optional(), value, 'LatestN n') ?? null;
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    const n = this.n;
    if (n === null || checkpoints.length <= n) return checkpoints.map(() => true);
    return checkpoints.map((_, i) => i >= checkpoints.length - n);
  }
}

/**
 * Keeps the first checkpoint, then each one whose time is at least `intervalSecs` after the
 * previously kept one (Python `EveryNSeconds`).
 */
export class EveryNSeconds implements PreservationPolicy {
  readonly intervalSecs: number;

  constructor(intervalSecs: number | { intervalSecs: number }) {
    const value = typeof intervalSecs === 'object' && intervalSecs !== null ? intervalSecs.intervalSecs : intervalSecs;
    this.intervalSecs = validated(z.number(), value, 'EveryNSeconds intervalSecs');
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    let lastKeptTime: number | null = null;
    return checkpoints.map((info) => {
      const time = info.time.getTime();
      if (lastKeptTime === null || time - lastKeptTime >= this.intervalSecs * 1000) {
        lastKeptTime = time;
        return true;
      }
      return false;
    });
  }
}

/** Options of {@link EveryNSteps}. */
export interface EveryNStepsOptions {
  /**
   * `true` (default): keep steps that are multiples of `intervalSteps`. `false`: keep the first
   * checkpoint and each one at least `intervalSteps` steps after the previously kept one.
   */
  exactInterval?: boolean;
  /**
   * Of the checkpoints this policy keeps, keep only the newest `maxToKeep`. `0` caps nothing
   * (Python slices `[:-0]`, which is empty).
   */
  maxToKeep?: number | null;
}

const everyNStepsSchema = z
  .object({
    intervalSteps: stepSchema,
    exactInterval: z.boolean().optional(),
    maxToKeep: countSchema.optional(),
  })
  .strict();

/**
 * Keeps checkpoints every `intervalSteps` steps (Python `EveryNSteps`). `intervalSteps` 0 is
 * accepted but throws when used, as in Python.
 */
export class EveryNSteps implements PreservationPolicy {
  readonly intervalSteps: number;
  readonly exactInterval: boolean;
  readonly maxToKeep: number | null;

  constructor(intervalSteps: number, options?: EveryNStepsOptions);
  constructor(options: EveryNStepsOptions & { intervalSteps: number });
  constructor(first: number | (EveryNStepsOptions & { intervalSteps: number }), options: EveryNStepsOptions = {}) {
    const merged = typeof first === 'number' ? { ...options, intervalSteps: first } : first;
    const parsed = validated(everyNStepsSchema, merged, 'EveryNSteps options');
    this.intervalSteps = parsed.intervalSteps;
    this.exactInterval = parsed.exactInterval ?? true;
    this.maxToKeep = parsed.maxToKeep ?? null;
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    if (this.intervalSteps === 0) throw new InvalidArgumentError('intervalSteps must not be 0.');
    let flags: boolean[];
    if (this.exactInterval) {
      flags = checkpoints.map((info) => info.step % this.intervalSteps === 0);
    } else {
      let previousStep: number | null = null;
      flags = checkpoints.map((info) => {
        if (previousStep === null || info.step - previousStep >= this.intervalSteps) {
          previousStep = info.step;
          return true;
        }
        return false;
      });
    }
    return keepNewestKept(flags, this.maxToKeep);
  }
}

const everyNStepsClosestSchema = z
  .object({ intervalSteps: stepSchema, maxToKeep: countSchema.optional() })
  .strict();

/**
 * For each multiple `k * intervalSteps`, keeps the checkpoint closest to it (ties: the later one),
 * and always the last checkpoint (Python `EveryNStepsClosest`). A checkpoint belongs to the
 * multiple `round(step / intervalSteps)` with Python's round-half-to-even, so step 5 with interval
 * 10 belongs to 0, step 15 to 20.
 */
export class EveryNStepsClosest implements PreservationPolicy {
  readonly intervalSteps: number;
  readonly maxToKeep: number | null;

  constructor(intervalSteps: number, options?: { maxToKeep?: number | null });
  constructor(options: { intervalSteps: number; maxToKeep?: number | null });
  constructor(
    first: number | { intervalSteps: number; maxToKeep?: number | null },
    options: { maxToKeep?: number | null } = {},
  ) {
    const merged = typeof first === 'number' ? { ...options, intervalSteps: first } : first;
    const parsed = validated(everyNStepsClosestSchema, merged, 'EveryNStepsClosest options');
    this.intervalSteps = parsed.intervalSteps;
    this.maxToKeep = parsed.maxToKeep ?? null;
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    if (this.intervalSteps === 0) throw new InvalidArgumentError('intervalSteps must not be 0.');
    if (checkpoints.length === 0) return [];
    const closest = new Map<number, { index: number; distance: number }>();
    checkpoints.forEach((info, index) => {
      const multiple = roundHalfToEven(info.step / this.intervalSteps);
      const distance = Math.abs(info.step - multiple * this.intervalSteps);
      const best = closest.get(multiple);
      if (best === undefined || distance <= best.distance) closest.set(multiple, { index, distance });
    });
    const flags = checkpoints.map(() => false);
    for (const { index } of closest.values()) flags[index] = true;
    flags[flags.length - 1] = true;
    return keepNewestKept(flags, this.maxToKeep);
  }
}

/** Keeps the checkpoints whose step is listed (Python `CustomSteps`). */
export class CustomSteps implements PreservationPolicy {
  readonly steps: ReadonlySet<number>;

  constructor(steps: Iterable<number>) {
    this.steps = new Set(validated(z.array(stepSchema), [...steps], 'CustomSteps steps'));
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    return checkpoints.map((info) => this.steps.has(info.step));
  }
}

/**
 * Keeps the first checkpoint of the list that is at most `durationMs` old at `ctx.now`, and
 * every checkpoint after it (Python `LatestDuration`; the list is assumed oldest first).
 */
export class LatestDuration implements PreservationPolicy {
  readonly durationMs: number;

  constructor(durationMs: number) {
    this.durationMs = validated(z.number(), durationMs, 'LatestDuration durationMs');
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], ctx: PreservationContext): boolean[] {
    const now = ctx.now.getTime();
    const first = checkpoints.findIndex((info) => now - info.time.getTime() <= this.durationMs);
    return checkpoints.map((_, i) => first !== -1 && i >= first);
  }
}

/** Options of {@link BestN} (Python keyword arguments). */
export interface BestNOptions {
  /** Turns a checkpoint's metrics into the number it is ranked by. */
  getMetricFn: MetricFn;
  /** `false` (default): larger is better. `true`: smaller is better. */
  reverse?: boolean;
  /** How many to keep; `null` (default) keeps all, `0` keeps none. */
  n?: number | null;
  /** Also keep every checkpoint without metrics (default `true`). */
  keepCheckpointsWithoutMetrics?: boolean;
}

const bestNSchema = z
  .object({
    getMetricFn: z.custom<MetricFn>((value) => typeof value === 'function', { message: 'Expected a function' }),
    reverse: z.boolean().optional(),
    n: countSchema.optional(),
    keepCheckpointsWithoutMetrics: z.boolean().optional(),
  })
  .strict();

/**
 * Keeps the `n` best checkpoints by metric (Python `BestN`):
 * - `n` null, or no more checkpoints than `n`: keeps all, without calling `getMetricFn`;
 * - `n` 0: keeps none (not even checkpoints without metrics);
 * - else the `n` best among checkpoints with metrics (ties: the later ones), plus every
 *   checkpoint without metrics when `keepCheckpointsWithoutMetrics`. `getMetricFn` is then called
 *   on every checkpoint with metrics and whatever it throws propagates.
 */
export class BestN implements PreservationPolicy {
  readonly getMetricFn: MetricFn;
  readonly reverse: boolean;
  readonly n: number | null;
  readonly keepCheckpointsWithoutMetrics: boolean;

  constructor(options: BestNOptions) {
    const parsed = validated(bestNSchema, options, 'BestN options');
    this.getMetricFn = parsed.getMetricFn;
    this.reverse = parsed.reverse ?? false;
    this.n = parsed.n ?? null;
    this.keepCheckpointsWithoutMetrics = parsed.keepCheckpointsWithoutMetrics ?? true;
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], _ctx: PreservationContext): boolean[] {
    const n = this.n;
    if (n === null || checkpoints.length <= n) return checkpoints.map(() => true);
    if (n === 0) return checkpoints.map(() => false);
    const best = new Set(orderByMetric(checkpoints, this.getMetricFn, this.reverse).slice(-n));
    return checkpoints.map(
      (info, i) => best.has(i) || (info.metrics === null && this.keepCheckpointsWithoutMetrics),
    );
  }
}

/** Keeps a checkpoint when any of its policies keeps it (Python `AnyPreservationPolicy`). */
export class AnyPreservationPolicy implements PreservationPolicy {
  readonly policies: readonly PreservationPolicy[];

  /**
   * At least one policy is required: with none, Python's numpy reduction returns a bare `False`
   * and the manager fails; here that is caught at construction.
   */
  constructor(policies: Iterable<PreservationPolicy>) {
    const list = validated(z.array(preservationPolicySchema), [...policies], 'AnyPreservationPolicy policies');
    if (list.length === 0) throw new InvalidArgumentError('AnyPreservationPolicy needs at least one policy.');
    this.policies = list;
  }

  shouldPreserve(checkpoints: readonly PolicyCheckpointInfo[], ctx: PreservationContext): boolean[] {
    // Every policy is asked (no short-circuit), as Python builds all results before reducing.
    const results = this.policies.map((policy) => checkedPreservationFlags(policy, checkpoints, ctx));
    return checkpoints.map((_, i) => results.some((flags) => flags[i] === true));
  }
}

/**
 * Runs `policy` and checks that it returned one boolean per checkpoint. Python would silently
 * zip a short list (keeping the rest); a wrong length is a bug in the policy, so it throws here
 * before anything is deleted.
 */
export function checkedPreservationFlags(
  policy: PreservationPolicy,
  checkpoints: readonly PolicyCheckpointInfo[],
  ctx: PreservationContext,
): boolean[] {
  const flags: unknown = policy.shouldPreserve(checkpoints, ctx);
  if (!Array.isArray(flags) || flags.length !== checkpoints.length) {
    const got = Array.isArray(flags) ? `${flags.length} flags` : typeof flags;
    throw new InvalidArgumentError(
      `${policy.constructor.name}.shouldPreserve returned ${got} for ${checkpoints.length} checkpoints; it must return one boolean per checkpoint.`,
    );
  }
  return flags.map((flag) => Boolean(flag));
}

/** Of the `true` flags, keeps only the last `maxToKeep` (none cleared when 0, as Python's `[:-0]`). */
function keepNewestKept(flags: boolean[], maxToKeep: number | null): boolean[] {
  if (maxToKeep === null || maxToKeep === 0) return flags;
  const kept = flags.flatMap((flag, i) => (flag ? [i] : []));
  for (const i of kept.slice(0, Math.max(0, kept.length - maxToKeep))) flags[i] = false;
  return flags;
}

/** Python's `round(x)` for floats: to the nearest integer, halves to the even neighbour. */
function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor; // exact for doubles
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
