// Save-decision and preservation policies, and the manager's gate/retention/best-step helpers,
// against the Orbax 0.12.8 behaviours recorded in orbax-layout.md §10.3/§10.4 and api.md §5.
import test from 'ava';

import * as ocp from 'orbax-ts';

import CheckpointManagers = ocp.checkpointManagers;

const cm = ocp.checkpointManagers;

type Info = CheckpointManagers.PolicyCheckpointInfo;

const T0 = Date.UTC(2025, 0, 1);

function info(step: number, opts: { secs?: number; metrics?: Record<string, unknown> | null } = {}): Info {
  return { step, time: new Date(T0 + (opts.secs ?? step) * 1000), metrics: opts.metrics ?? null };
}

function infos(steps: number[]): Info[] {
  return steps.map((step) => info(step));
}

function decisionCtx(overrides: Partial<CheckpointManagers.DecisionContext> = {}): CheckpointManagers.DecisionContext {
  return { isSavingInProgress: false, reachedPreemption: false, now: new Date(T0), ...overrides };
}

const preserveCtx = { now: new Date(T0 + 1_000_000) };

function kept(policy: CheckpointManagers.PreservationPolicy, list: Info[], ctx = preserveCtx): number[] {
  const flags = policy.shouldPreserve(list, ctx);
  return list.filter((_, i) => flags[i]).map((i) => i.step);
}

interface SimulatedSave {
  step: number;
  /** Seconds after T0 at which the step is decided on and saved (default: the step number). */
  secs?: number;
  metrics?: Record<string, unknown> | null;
}

/**
 * Replays what CheckpointManager.save does with the policy layer: gate, append the step just
 * saved, compute the steps to delete and drop them. Returns the kept steps after every save.
 */
function simulate(
  options: CheckpointManagers.CheckpointManagerOptions,
  saves: Array<number | SimulatedSave>,
  initial: Info[] = [],
): { final: number[]; afterEach: Map<number, number[]>; deletedAfter: Map<number, number[]> } {
  const resolved = cm.resolveManagerOptions(options, { warn: () => {} });
  const list = [...initial];
  const afterEach = new Map<number, number[]>();
  const deletedAfter = new Map<number, number[]>();
  for (const entry of saves) {
    const save = typeof entry === 'number' ? { step: entry } : entry;
    const now = new Date(T0 + (save.secs ?? save.step) * 1000);
    if (!cm.shouldSaveStep(save.step, list, resolved, decisionCtx({ now }))) continue;
    list.push({ step: save.step, time: now, metrics: save.metrics ?? null });
    const doomed = cm.stepsToDelete(list, resolved.preservationPolicy, { now });
    deletedAfter.set(save.step, doomed);
    for (const step of doomed) list.splice(list.findIndex((i) => i.step === step), 1);
    afterEach.set(save.step, list.map((i) => i.step));
  }
  return { final: list.map((i) => i.step), afterEach, deletedAfter };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---------------------------------------------------------------- save-decision policies

test('FixedIntervalPolicy saves multiples of the interval, negative steps and intervals included', (t) => {
  const policy = new cm.FixedIntervalPolicy(3);
  t.deepEqual(
    range(0, 7).filter((s) => policy.shouldSave(info(s), [], decisionCtx())),
    [0, 3, 6],
  );
  t.true(policy.shouldSave(info(-6), [], decisionCtx()));
  t.true(new cm.FixedIntervalPolicy(-2).shouldSave(info(4), [], decisionCtx()));
  t.false(new cm.FixedIntervalPolicy(-2).shouldSave(info(5), [], decisionCtx()));
});

test('FixedIntervalPolicy(0) can be built but throws when asked (Python: ZeroDivisionError)', (t) => {
  const policy = new cm.FixedIntervalPolicy(0);
  const error = t.throws(() => policy.shouldSave(info(4), [], decisionCtx()), { instanceOf: ocp.InvalidArgumentError });
  t.is(error?.message, 'FixedIntervalPolicy interval must not be 0 (integer modulo by zero).');
});

test('policy constructors validate their arguments', (t) => {
  t.throws(() => new cm.FixedIntervalPolicy(1.5), {
    instanceOf: ocp.InvalidArgumentError,
    message: /^Invalid FixedIntervalPolicy interval: /,
  });
  t.throws(() => new cm.SpecificStepsPolicy([1, Number.NaN]), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new cm.LatestN(-1), { instanceOf: ocp.InvalidArgumentError, message: /^Invalid LatestN n: / });
  t.throws(() => new cm.BestN({ getMetricFn: (m) => Number(m.loss), n: -2 }), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new cm.EveryNSteps(5, { maxToKeep: -1 }), { instanceOf: ocp.InvalidArgumentError });
  t.throws(() => new cm.AnySavePolicy([{} as CheckpointManagers.SaveDecisionPolicy]), {
    instanceOf: ocp.InvalidArgumentError,
    message: /Expected a SaveDecisionPolicy/,
  });
  const error = t.throws(() => new cm.AnyPreservationPolicy([]), { instanceOf: ocp.InvalidArgumentError });
  t.is(error?.message, 'AnyPreservationPolicy needs at least one policy.');
});

test('SpecificStepsPolicy saves exactly the listed steps', (t) => {
  const policy = new cm.SpecificStepsPolicy(new Set([3, 5]));
  t.deepEqual(
    range(0, 7).filter((s) => policy.shouldSave(info(s), [], decisionCtx())),
    [3, 5],
  );
});

test('InitialSavePolicy saves only when there is no previous checkpoint', (t) => {
  const policy = new cm.InitialSavePolicy();
  t.true(policy.shouldSave(info(7), [], decisionCtx()));
  t.false(policy.shouldSave(info(7), infos([0]), decisionCtx()));
});

test('PreemptionCheckpointingPolicy follows ctx.reachedPreemption (the manager always passes false)', (t) => {
  const policy = new cm.PreemptionCheckpointingPolicy();
  t.false(policy.shouldSave(info(1), [], decisionCtx()));
  t.true(policy.shouldSave(info(1), [], decisionCtx({ reachedPreemption: true })));
});

test('ContinuousCheckpointingPolicy: never while saving; otherwise after the minimum interval', (t) => {
  const free = new cm.ContinuousCheckpointingPolicy();
  t.is(free.minimumIntervalSecs, null);
  t.true(free.shouldSave(info(1), infos([0]), decisionCtx()));
  t.false(free.shouldSave(info(1), infos([0]), decisionCtx({ isSavingInProgress: true })));

  const policy = new cm.ContinuousCheckpointingPolicy({ minimumIntervalSecs: 10 });
  const previous = [info(0, { secs: 0 }), info(1, { secs: 100 })];
  // Compared with the LAST previous checkpoint's time, using the step's own time.
  t.false(policy.shouldSave(info(2, { secs: 109.999 }), previous, decisionCtx()));
  t.true(policy.shouldSave(info(2, { secs: 110 }), previous, decisionCtx()));
  t.true(policy.shouldSave(info(2, { secs: 0 }), [], decisionCtx()));
  t.false(policy.shouldSave(info(2, { secs: 500 }), previous, decisionCtx({ isSavingInProgress: true })));
});

test('AnySavePolicy asks its policies in order and stops at the first yes', (t) => {
  const asked: string[] = [];
  const spy = (name: string, answer: boolean): CheckpointManagers.SaveDecisionPolicy => ({
    shouldSave: () => {
      asked.push(name);
      return answer;
    },
  });
  const policy = new cm.AnySavePolicy([spy('a', false), spy('b', true), spy('c', true)]);
  t.true(policy.shouldSave(info(1), [], decisionCtx()));
  t.deepEqual(asked, ['a', 'b']);
  t.false(new cm.AnySavePolicy([]).shouldSave(info(1), [], decisionCtx()));
});

test('isContinuousCheckpointingEnabled looks at the policy and at the direct children of an Any', (t) => {
  const continuous = new cm.ContinuousCheckpointingPolicy();
  t.true(cm.isContinuousCheckpointingEnabled(continuous));
  t.true(cm.isContinuousCheckpointingEnabled(new cm.AnySavePolicy([new cm.InitialSavePolicy(), continuous])));
  t.false(cm.isContinuousCheckpointingEnabled(new cm.AnySavePolicy([new cm.InitialSavePolicy()])));
  t.false(cm.isContinuousCheckpointingEnabled(null));
});

// ---------------------------------------------------------------- preservation policies

test('PreserveAll keeps everything', (t) => {
  t.deepEqual(new cm.PreserveAll().shouldPreserve(infos([1, 2, 3]), preserveCtx), [true, true, true]);
  t.deepEqual(new cm.PreserveAll().shouldPreserve([], preserveCtx), []);
});

test('LatestN keeps the last n list entries: null all, 0 none, n >= length all', (t) => {
  // The list's order, not the step values, decides (after an out-of-order save: [5, 3]).
  const list = infos([5, 3, 8, 1]);
  t.deepEqual(kept(new cm.LatestN(2), list), [8, 1]);
  t.deepEqual(kept(new cm.LatestN({ n: 2 }), list), [8, 1]);
  t.deepEqual(kept(new cm.LatestN(null), list), [5, 3, 8, 1]);
  t.deepEqual(kept(new cm.LatestN(), list), [5, 3, 8, 1]);
  t.deepEqual(kept(new cm.LatestN(0), list), []);
  t.deepEqual(kept(new cm.LatestN(4), list), [5, 3, 8, 1]);
  t.deepEqual(kept(new cm.LatestN(0), []), []);
});

test('EveryNSteps exact: multiples of the interval; with maxToKeep, the newest of those', (t) => {
  const list = infos(range(0, 12));
  t.deepEqual(kept(new cm.EveryNSteps(4), list), [0, 4, 8, 12]);
  t.deepEqual(kept(new cm.EveryNSteps({ intervalSteps: 4 }), list), [0, 4, 8, 12]);
  t.deepEqual(kept(new cm.EveryNSteps(4, { maxToKeep: 2 }), list), [8, 12]);
  // maxToKeep 0 caps nothing (Python slices [:-0], which is empty).
  t.deepEqual(kept(new cm.EveryNSteps(4, { maxToKeep: 0 }), list), [0, 4, 8, 12]);
  t.deepEqual(kept(new cm.EveryNSteps(-4), list), [0, 4, 8, 12]);
});

test('EveryNSteps inexact: the first, then each at least n steps after the previously kept one', (t) => {
  const list = infos([1, 3, 4, 6, 7, 9, 12, 13]);
  t.deepEqual(kept(new cm.EveryNSteps(3, { exactInterval: false }), list), [1, 4, 7, 12]);
  t.deepEqual(kept(new cm.EveryNSteps(3, { exactInterval: false, maxToKeep: 3 }), list), [4, 7, 12]);
  t.deepEqual(kept(new cm.EveryNSteps(3, { exactInterval: false }), []), []);
});

test('EveryNSteps(0) throws when used, even on an empty list', (t) => {
  const policy = new cm.EveryNSteps(0);
  const error = t.throws(() => policy.shouldPreserve([], preserveCtx), { instanceOf: ocp.InvalidArgumentError });
  t.is(error?.message, 'intervalSteps must not be 0.');
  t.throws(() => new cm.EveryNStepsClosest(0).shouldPreserve(infos([1]), preserveCtx), {
    instanceOf: ocp.InvalidArgumentError,
    message: 'intervalSteps must not be 0.',
  });
});

test('EveryNStepsClosest keeps the checkpoint closest to each multiple (ties: later) and the last', (t) => {
  const list = infos([0, 9, 11, 18, 23, 24]);
  // 0 -> 0; 9 (1 away) and 11 (1 away) -> 10, tie to the later 11; 18 -> 20 (2 away), 23 -> 20
  // (3 away); 24 -> 20 (4 away) but kept as the last.
  t.deepEqual(kept(new cm.EveryNStepsClosest(10), list), [0, 11, 18, 24]);
  t.deepEqual(kept(new cm.EveryNStepsClosest(10, { maxToKeep: 2 }), list), [18, 24]);
  t.deepEqual(kept(new cm.EveryNStepsClosest({ intervalSteps: 10, maxToKeep: 0 }), list), [0, 11, 18, 24]);
  t.deepEqual(kept(new cm.EveryNStepsClosest(10), []), []);
});

test('EveryNStepsClosest assigns halves with Python round-half-to-even', (t) => {
  // round(0.5) = 0, round(1.5) = 2, round(2.5) = 2: 5 -> 0, 15 -> 20, 25 -> 20 (tie: 25 wins),
  // 35 -> 40 (last).
  t.deepEqual(kept(new cm.EveryNStepsClosest(10), infos([5, 15, 25, 35])), [5, 25, 35]);
  // With rounding half up, 15 and 25 would each have had a multiple of their own.
  t.deepEqual(kept(new cm.EveryNStepsClosest(10), infos([5, 15, 25, 40])), [5, 25, 40]);
});

test('EveryNSeconds keeps the first, then each at least the interval after the previously kept', (t) => {
  const list = [0, 0.7, 1.4, 2.1, 2.8, 3.5, 4.2, 4.9].map((secs, step) => info(step, { secs }));
  t.deepEqual(kept(new cm.EveryNSeconds(2), list), [0, 3, 6]);
  t.deepEqual(kept(new cm.EveryNSeconds({ intervalSecs: 2 }), list), [0, 3, 6]);
  t.deepEqual(kept(new cm.EveryNSeconds(0), list), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.deepEqual(kept(new cm.EveryNSeconds(2), []), []);
  // Exactly the interval counts.
  t.deepEqual(kept(new cm.EveryNSeconds(2), [info(0, { secs: 10 }), info(1, { secs: 12 })]), [0, 1]);
});

test('LatestDuration keeps from the first checkpoint within the duration of ctx.now onwards', (t) => {
  const now = { now: new Date(T0 + 100_000) };
  const list = [info(0, { secs: 10 }), info(1, { secs: 40 }), info(2, { secs: 30 }), info(3, { secs: 95 })];
  // 40 is 60 s old, within 60 s: kept with everything after it, even the older step 2.
  t.deepEqual(kept(new cm.LatestDuration(60_000), list, now), [1, 2, 3]);
  t.deepEqual(kept(new cm.LatestDuration(1_000), list, now), []);
  t.deepEqual(kept(new cm.LatestDuration(1_000_000), list, now), [0, 1, 2, 3]);
  t.deepEqual(kept(new cm.LatestDuration(60_000), [], now), []);
});

test('CustomSteps keeps the listed steps', (t) => {
  t.deepEqual(kept(new cm.CustomSteps([2, 4, 99]), infos(range(0, 5))), [2, 4]);
});

const loss = (m: Record<string, unknown>) => m.loss as number;

test('BestN keeps all when n is null or the list is not longer than n, without calling the metric', (t) => {
  const throwing = () => {
    throw new Error('not called');
  };
  const list = [info(0, { metrics: { loss: 1 } }), info(1, { metrics: { loss: 2 } })];
  t.deepEqual(kept(new cm.BestN({ getMetricFn: throwing }), list), [0, 1]);
  t.deepEqual(kept(new cm.BestN({ getMetricFn: throwing, n: 2 }), list), [0, 1]);
});

test('BestN n=0 keeps nothing, not even steps without metrics', (t) => {
  const list = [info(0, { metrics: { loss: 1 } }), info(1)];
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 0 }), list), []);
});

test('BestN keeps the n largest (reverse false) or smallest (reverse true), plus steps without metrics', (t) => {
  const list = [
    info(0, { metrics: { loss: 5 } }),
    info(1, { metrics: { loss: 1 } }),
    info(2, { metrics: { loss: 3 } }),
    info(3),
    info(4, { metrics: { loss: 0.5 } }),
  ];
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 2 }), list), [0, 2, 3]);
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 2, reverse: true }), list), [1, 3, 4]);
  t.deepEqual(
    kept(new cm.BestN({ getMetricFn: loss, n: 2, reverse: true, keepCheckpointsWithoutMetrics: false }), list),
    [1, 4],
  );
});

test('BestN ties go to the later checkpoint in both directions (stable sort, Python reverse)', (t) => {
  const list = [1, 2, 3, 4].map((step) => info(step, { metrics: { loss: step === 4 ? 9 : 5 } }));
  // max: 4 (9) then the later two of the 5s.
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 3 }), list), [2, 3, 4]);
  // min: the three 5s are best; with n=2 the later two.
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 2, reverse: true }), list), [2, 3]);
});

test('BestN calls the metric once per checkpoint with metrics, in list order, and propagates errors', (t) => {
  const seen: number[] = [];
  const metric = (m: Record<string, unknown>) => {
    seen.push(m.loss as number);
    return m.loss as number;
  };
  const list = [info(0, { metrics: { loss: 3 } }), info(1), info(2, { metrics: { loss: 1 } }), info(3, { metrics: { loss: 2 } })];
  kept(new cm.BestN({ getMetricFn: metric, n: 1 }), list);
  t.deepEqual(seen, [3, 1, 2]);

  const keyError = (m: Record<string, unknown>) => {
    if (!('loss' in m)) throw new ocp.KeyNotFoundError("'loss'");
    return m.loss as number;
  };
  const bad = [info(0, { metrics: { loss: 3 } }), info(1, { metrics: { acc: 1 } })];
  t.throws(() => kept(new cm.BestN({ getMetricFn: keyError, n: 1 }), bad), {
    instanceOf: ocp.KeyNotFoundError,
    message: "'loss'",
  });
});

test('BestN: a metric function returning a non-number is a TypeError; NaN ranks worst', (t) => {
  const list = [info(0, { metrics: { loss: 'x' } }), info(1, { metrics: { loss: 1 } })];
  const error = t.throws(() => kept(new cm.BestN({ getMetricFn: loss, n: 1 }), list), {
    instanceOf: ocp.UnsupportedTypeError,
  });
  t.is(error?.message, 'The metric function must return a number; got string.');

  const withNaN = [info(0, { metrics: { loss: Number.NaN } }), info(1, { metrics: { loss: 1 } }), info(2, { metrics: { loss: 2 } })];
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 2 }), withNaN), [1, 2]);
  t.deepEqual(kept(new cm.BestN({ getMetricFn: loss, n: 2, reverse: true }), withNaN), [1, 2]);
});

test('AnyPreservationPolicy keeps what any child keeps and asks every child', (t) => {
  const asked: string[] = [];
  const spy = (name: string, inner: CheckpointManagers.PreservationPolicy): CheckpointManagers.PreservationPolicy => ({
    shouldPreserve: (list, ctx) => {
      asked.push(name);
      return inner.shouldPreserve(list, ctx);
    },
  });
  const policy = new cm.AnyPreservationPolicy([spy('all', new cm.PreserveAll()), spy('latest', new cm.LatestN(1))]);
  t.deepEqual(kept(policy, infos([0, 1, 2])), [0, 1, 2]);
  t.deepEqual(asked, ['all', 'latest']);
  // layout §10.4: Any([LatestN(1), EveryNSteps(5)]) over 0..11 -> [0, 5, 10, 11].
  const any = new cm.AnyPreservationPolicy([new cm.LatestN(1), new cm.EveryNSteps(5)]);
  t.deepEqual(kept(any, infos(range(0, 11))), [0, 5, 10, 11]);
});

test('a custom preservation policy returning the wrong number of flags is rejected before deleting', (t) => {
  const short: CheckpointManagers.PreservationPolicy = { shouldPreserve: () => [false] };
  const error = t.throws(() => cm.stepsToDelete(infos([0, 1]), short, preserveCtx), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.is(error?.message, 'Object.shouldPreserve returned 1 flags for 2 checkpoints; it must return one boolean per checkpoint.');
  t.throws(() => new cm.AnyPreservationPolicy([short]).shouldPreserve(infos([0, 1]), preserveCtx), {
    instanceOf: ocp.InvalidArgumentError,
  });
});

// ---------------------------------------------------------------- gate, retention, best step

test('stepsToDelete returns the unkept steps in list order, the step just saved included', (t) => {
  t.deepEqual(cm.stepsToDelete(infos([5, 3, 8, 1]), new cm.LatestN(1), preserveCtx), [5, 3, 8]);
  t.deepEqual(cm.stepsToDelete(infos([4]), new cm.LatestN(0), preserveCtx), [4]);
  t.deepEqual(cm.stepsToDelete([], new cm.LatestN(0), preserveCtx), []);
});

test('shouldSaveStep: read-only never, a step not after the last entry never, else the policy', (t) => {
  const base = { readOnly: false, saveDecisionPolicy: new cm.InitialSavePolicy(), enableShouldSaveIsSavingInProgressCheck: true };
  const yes: CheckpointManagers.SaveDecisionPolicy = { shouldSave: () => true };
  t.true(cm.shouldSaveStep(0, [], base, decisionCtx()));
  t.false(cm.shouldSaveStep(0, [], { ...base, readOnly: true }, decisionCtx()));
  // The LAST entry counts, not the largest: after an out-of-order save [5, 3], step 4 may save.
  t.true(cm.shouldSaveStep(4, infos([5, 3]), { ...base, saveDecisionPolicy: yes }, decisionCtx()));
  t.false(cm.shouldSaveStep(3, infos([5, 3]), { ...base, saveDecisionPolicy: yes }, decisionCtx()));
  t.false(cm.shouldSaveStep(2, infos([5, 3]), { ...base, saveDecisionPolicy: yes }, decisionCtx()));
});

test('shouldSaveStep passes the step with time = ctx.now and no metrics, and masks isSavingInProgress when disabled', (t) => {
  const seen: Array<[Info, boolean]> = [];
  const recorder: CheckpointManagers.SaveDecisionPolicy = {
    shouldSave: (step, _previous, ctx) => {
      seen.push([step, ctx.isSavingInProgress]);
      return true;
    },
  };
  const now = new Date(T0 + 42_000);
  const options = { readOnly: false, saveDecisionPolicy: recorder, enableShouldSaveIsSavingInProgressCheck: true };
  cm.shouldSaveStep(7, [], options, decisionCtx({ now, isSavingInProgress: true }));
  cm.shouldSaveStep(7, [], { ...options, enableShouldSaveIsSavingInProgressCheck: false }, decisionCtx({ now, isSavingInProgress: true }));
  t.deepEqual(seen, [
    [{ step: 7, time: now, metrics: null }, true],
    [{ step: 7, time: now, metrics: null }, false],
  ]);
});

test('bestStep: latest without bestFn; best with metrics (later on ties); null when none has metrics', (t) => {
  const list = [info(0, { metrics: { acc: 0.1 } }), info(1, { metrics: { acc: 0.5 } }), info(2), info(3, { metrics: { acc: 0.5 } })];
  const acc = (m: Record<string, unknown>) => m.acc as number;
  t.is(cm.bestStep(list, { bestFn: null, bestMode: 'max' }), 3);
  t.is(cm.bestStep(infos([5, 3]), { bestFn: null, bestMode: 'max' }), 3);
  t.is(cm.bestStep([], { bestFn: null, bestMode: 'max' }), null);
  t.is(cm.bestStep(list, { bestFn: acc, bestMode: 'max' }), 3);
  t.is(cm.bestStep(list, { bestFn: acc, bestMode: 'min' }), 0);
  t.is(cm.bestStep([info(0), info(1)], { bestFn: acc, bestMode: 'max' }), null);
  t.is(cm.bestStep([], { bestFn: acc, bestMode: 'max' }), null);
});

// ---------------------------------------------------------------- manager walkthroughs (layout §10.3/§10.4)

test('seed walkthrough: maxToKeep 3, saveIntervalSteps 2, steps 0..10 -> [6, 8, 10]; shouldSave(11) false', (t) => {
  const run = simulate({ maxToKeep: 3, saveIntervalSteps: 2 }, range(0, 10));
  t.deepEqual(run.final, [6, 8, 10]);
  const resolved = cm.resolveManagerOptions({ maxToKeep: 3, saveIntervalSteps: 2 });
  t.false(cm.shouldSaveStep(11, infos([6, 8, 10]), resolved, decisionCtx()));
  t.true(cm.shouldSaveStep(12, infos([6, 8, 10]), resolved, decisionCtx()));
});

test('interval 3 on a fresh manager: shouldSave is true for 0..7 before any save; saving 0..7 keeps [0, 3, 6]', (t) => {
  const resolved = cm.resolveManagerOptions({ saveIntervalSteps: 3 });
  t.deepEqual(
    range(0, 7).map((s) => cm.shouldSaveStep(s, [], resolved, decisionCtx())),
    range(0, 7).map(() => true),
  );
  t.deepEqual(simulate({ saveIntervalSteps: 3 }, range(0, 7)).final, [0, 3, 6]);
});

test('interval 2 starting at step 1 saves [1, 2, 4, 6, 8]', (t) => {
  t.deepEqual(simulate({ saveIntervalSteps: 2 }, range(1, 8)).final, [1, 2, 4, 6, 8]);
});

test('interval 100 with saveOnSteps [3, 5] over 1..11 saves [1, 3, 5]', (t) => {
  t.deepEqual(simulate({ saveIntervalSteps: 100, saveOnSteps: [3, 5] }, range(1, 11)).final, [1, 3, 5]);
});

test('a reopened manager with steps up to 8 and interval 4: shouldSave(10..13) = F, F, T, F', (t) => {
  const resolved = cm.resolveManagerOptions({ saveIntervalSteps: 4 });
  const existing = infos(range(0, 8));
  t.deepEqual(
    range(10, 13).map((s) => cm.shouldSaveStep(s, existing, resolved, decisionCtx())),
    [false, false, true, false],
  );
});

test('shouldSaveFn s % 3 == 0 over 1..7 saves [3, 6] with calls (1,null)..(7,6)', (t) => {
  const calls: Array<[number, number | null]> = [];
  const shouldSaveFn = (step: number, last: number | null) => {
    calls.push([step, last]);
    return step % 3 === 0;
  };
  t.deepEqual(simulate({ shouldSaveFn }, range(1, 7)).final, [3, 6]);
  t.deepEqual(calls, [
    [1, null],
    [2, null],
    [3, null],
    [4, 3],
    [5, 3],
    [6, 3],
    [7, 6],
  ]);
});

test('maxToKeep 2 over 0..4: [1, 2] right after save(2), finally [3, 4]', (t) => {
  const run = simulate({ maxToKeep: 2 }, range(0, 4));
  t.deepEqual(run.afterEach.get(2), [1, 2]);
  t.deepEqual(run.deletedAfter.get(2), [0]);
  t.deepEqual(run.final, [3, 4]);
});

test('maxToKeep 0 deletes every step, including the one just saved', (t) => {
  const run = simulate({ maxToKeep: 0 }, range(0, 2));
  t.deepEqual(run.deletedAfter.get(0), [0]);
  t.deepEqual(run.final, []);
});

test('keepPeriod with maxToKeep: period-kept steps do not count toward maxToKeep', (t) => {
  t.deepEqual(simulate({ maxToKeep: 1, keepPeriod: 2 }, range(0, 6)).final, [0, 2, 4, 6]);
  t.deepEqual(simulate({ maxToKeep: 3, keepPeriod: 4 }, range(0, 12)).final, [0, 4, 8, 10, 11, 12]);
});

test('maxToKeep 1 with keepTimeIntervalMs 2000, a save every 0.7 s -> [0, 3, 6, 7]', (t) => {
  const saves = range(0, 7).map((step) => ({ step, secs: step * 0.7 }));
  t.deepEqual(simulate({ maxToKeep: 1, keepTimeIntervalMs: 2000 }, saves).final, [0, 3, 6, 7]);
  // Orbax truncates the interval to whole seconds: 2999 ms behaves as 2 s.
  t.deepEqual(simulate({ maxToKeep: 1, keepTimeIntervalMs: 2999 }, saves).final, [0, 3, 6, 7]);
});

const losses: Array<[number, number | null]> = [
  [0, 5],
  [1, 1],
  [2, 3],
  [3, null],
  [4, 0.5],
  [5, 4],
];

test('bestFn loss, min, maxToKeep 2, keepCheckpointsWithoutMetrics false -> [1, 4]; 3 and 5 go at once', (t) => {
  const saves = losses.map(([step, value]) => ({ step, metrics: value === null ? null : { loss: value } }));
  const run = simulate({ bestFn: loss, bestMode: 'min', maxToKeep: 2, keepCheckpointsWithoutMetrics: false }, saves);
  t.deepEqual(run.final, [1, 4]);
  t.deepEqual(run.deletedAfter.get(3), [3]);
  t.deepEqual(run.deletedAfter.get(5), [5]);
});

test('bestFn loss, min, maxToKeep 2, default keepCheckpointsWithoutMetrics -> [1, 3, 4]', (t) => {
  const saves = losses.map(([step, value]) => ({ step, metrics: value === null ? null : { loss: value } }));
  t.deepEqual(simulate({ bestFn: loss, bestMode: 'min', maxToKeep: 2 }, saves).final, [1, 3, 4]);
});

test('bestFn acc, max, maxToKeep 2 -> [1, 2, 4], best step 4', (t) => {
  const accs: Array<[number, number | null]> = [
    [0, 0.1],
    [1, 0.5],
    [2, null],
    [3, 0.3],
    [4, 0.9],
    [5, 0.2],
  ];
  const acc = (m: Record<string, unknown>) => m.acc as number;
  const saves = accs.map(([step, value]) => ({ step, metrics: value === null ? null : { acc: value } }));
  const run = simulate({ bestFn: acc, bestMode: 'max', maxToKeep: 2 }, saves);
  t.deepEqual(run.final, [1, 2, 4]);
  const finalInfos = [info(1, { metrics: { acc: 0.5 } }), info(2), info(4, { metrics: { acc: 0.9 } })];
  t.is(cm.bestStep(finalInfos, cm.resolveManagerOptions({ bestFn: acc, maxToKeep: 2 })), 4);
});

test('a bestFn that throws fails retention once there are more than maxToKeep steps, and every later one', (t) => {
  const strictLoss = (m: Record<string, unknown>) => {
    if (!('loss' in m)) throw new ocp.KeyNotFoundError("'loss'");
    return m.loss as number;
  };
  const resolved = cm.resolveManagerOptions({ bestFn: strictLoss, bestMode: 'min', maxToKeep: 2 });
  const list = [info(0, { metrics: { acc: 1 } }), info(1, { metrics: { loss: 1 } })];
  t.deepEqual(cm.stepsToDelete(list, resolved.preservationPolicy, preserveCtx), []);
  list.push(info(2, { metrics: { loss: 2 } }));
  t.throws(() => cm.stepsToDelete(list, resolved.preservationPolicy, preserveCtx), { instanceOf: ocp.KeyNotFoundError });
  list.push(info(3, { metrics: { loss: 3 } }));
  t.throws(() => cm.stepsToDelete(list, resolved.preservationPolicy, preserveCtx), { instanceOf: ocp.KeyNotFoundError });
});

test('a preservationPolicy replaces the retention options: Any([LatestN(1), EveryNSteps(5)]) over 0..11', (t) => {
  const preservationPolicy = new cm.AnyPreservationPolicy([new cm.LatestN(1), new cm.EveryNSteps(5)]);
  t.deepEqual(simulate({ preservationPolicy }, range(0, 11)).final, [0, 5, 10, 11]);
});

test('a saveDecisionPolicy replaces the gating options (ContinuousCheckpointingPolicy with a minimum interval)', (t) => {
  const saveDecisionPolicy = new cm.ContinuousCheckpointingPolicy({ minimumIntervalSecs: 3 });
  // Interval options are ignored; one step per second, at least 3 s apart.
  t.deepEqual(simulate({ saveDecisionPolicy, saveIntervalSteps: 100 }, range(0, 10)).final, [0, 3, 6, 9]);
});

// ---------------------------------------------------------------- differential test against real Orbax

const ORACLE = String.raw`
import datetime, json, sys
from orbax.checkpoint import checkpoint_manager as cmod
from orbax.checkpoint import options as options_lib
from orbax.checkpoint._src.checkpoint_managers import preservation_policy as pp
from orbax.checkpoint._src.checkpoint_managers import save_decision_policy as sdp

class Info:
  def __init__(self, step, time, metrics):
    self.step, self.time, self.metrics = step, time, metrics

BASE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
NOW = datetime.datetime.now(tz=datetime.timezone.utc)

def at(secs, base=BASE):
  return base + datetime.timedelta(seconds=secs)

def metric(m):
  return m['loss']

def build(spec):
  k = spec['kind']
  if k == 'LatestN': return pp.LatestN(n=spec['n'])
  if k == 'EveryNSteps': return pp.EveryNSteps(spec['interval'], exact_interval=spec['exact'], max_to_keep=spec['maxToKeep'])
  if k == 'EveryNStepsClosest': return pp.EveryNStepsClosest(spec['interval'], max_to_keep=spec['maxToKeep'])
  if k == 'EveryNSeconds': return pp.EveryNSeconds(spec['secs'])
  if k == 'CustomSteps': return pp.CustomSteps(spec['steps'])
  if k == 'BestN': return pp.BestN(get_metric_fn=metric, reverse=spec['reverse'], n=spec['n'], keep_checkpoints_without_metrics=spec['keep'])
  if k == 'LatestDuration': return pp.LatestDuration(datetime.timedelta(seconds=spec['secs']))
  if k == 'Any': return pp.AnyPreservationPolicy([build(s) for s in spec['policies']])
  raise ValueError(k)

def uses_now(spec):
  return spec['kind'] == 'LatestDuration' or any(uses_now(s) for s in spec.get('policies', []))

def preserve(case):
  # LatestDuration reads the real clock: place its checkpoints relative to it.
  base = NOW if uses_now(case['policy']) else BASE
  infos = [Info(c['step'], at(c['secs'], base), c['metrics']) for c in case['checkpoints']]
  return [bool(x) for x in build(case['policy']).should_preserve(infos, context=pp.PreservationContext())]

def simulate(case):
  o = case['options']
  kw = dict(save_interval_steps=o['interval'], max_to_keep=o['maxToKeep'], keep_period=o['keepPeriod'], save_on_steps=o['saveOnSteps'])
  if o['keepTimeIntervalMs'] is not None:
    kw['keep_time_interval'] = datetime.timedelta(milliseconds=o['keepTimeIntervalMs'])
  if o['best']:
    kw.update(best_fn=metric, best_mode=o['bestMode'], keep_checkpoints_without_metrics=o['keep'])
  opts = cmod.CheckpointManagerOptions(**kw)
  save_policy = cmod._get_default_save_decision_policy(opts)
  keep_policy = cmod._get_default_preservation_policy(opts)
  ctx = sdp.DecisionContext(is_saving_in_progress=False, reached_preemption=False, multiprocessing_options=options_lib.MultiprocessingOptions())
  kept = []
  for s in case['saves']:
    if kept and kept[-1].step >= s['step']:
      continue
    if not save_policy.should_save(Info(s['step'], at(s['secs']), None), previous_steps=kept, context=ctx):
      continue
    kept.append(Info(s['step'], at(s['secs']), s['metrics'] if o['best'] else None))
    flags = keep_policy.should_preserve(kept, context=pp.PreservationContext())
    kept = [c for c, keep in zip(kept, flags) if keep]
  return [c.step for c in kept]

request = json.load(sys.stdin)
json.dump({
  'preserve': [preserve(c) for c in request['preserve']],
  'simulate': [simulate(c) for c in request['simulate']],
}, sys.stdout)
`;

interface PolicySpec {
  kind: string;
  n?: number | null;
  interval?: number;
  exact?: boolean;
  maxToKeep?: number | null;
  secs?: number;
  steps?: number[];
  reverse?: boolean;
  keep?: boolean;
  policies?: PolicySpec[];
}

interface CheckpointSpec {
  step: number;
  secs: number;
  metrics: { loss: number } | null;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function buildPolicy(s: PolicySpec): CheckpointManagers.PreservationPolicy {
  switch (s.kind) {
    case 'LatestN':
      return new cm.LatestN(s.n ?? null);
    case 'EveryNSteps':
      return new cm.EveryNSteps(s.interval ?? Number.NaN, { exactInterval: s.exact ?? true, maxToKeep: s.maxToKeep ?? null });
    case 'EveryNStepsClosest':
      return new cm.EveryNStepsClosest(s.interval ?? Number.NaN, { maxToKeep: s.maxToKeep ?? null });
    case 'EveryNSeconds':
      return new cm.EveryNSeconds(s.secs ?? Number.NaN);
    case 'CustomSteps':
      return new cm.CustomSteps(s.steps ?? []);
    case 'BestN':
      return new cm.BestN({ getMetricFn: loss, reverse: s.reverse ?? false, n: s.n ?? null, keepCheckpointsWithoutMetrics: s.keep ?? true });
    case 'LatestDuration':
      return new cm.LatestDuration((s.secs ?? Number.NaN) * 1000);
    case 'Any':
      return new cm.AnyPreservationPolicy((s.policies ?? []).map(buildPolicy));
    default:
      throw new Error(s.kind);
  }
}

function randomCases(seed: number) {
  const random = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(values: readonly T[]): T => values[int(0, values.length - 1)] as T;
  const maybe = <T>(value: () => T): T | null => (random() < 0.25 ? null : value());
  const lossValue = () => (random() < 0.25 ? null : { loss: pick([0, 0.5, 1, 2, 3]) });

  const checkpoints = (ordered: boolean, pastOnly: boolean): CheckpointSpec[] => {
    const count = int(0, 9);
    let step = int(0, 3);
    let secs = 0;
    const list: CheckpointSpec[] = [];
    for (let i = 0; i < count; i++) {
      list.push({ step: ordered ? step : int(0, 30), secs, metrics: lossValue() });
      step += int(1, 4);
      secs += pick([0, 0.5, 1, 1.5, 2, 3]);
    }
    // LatestDuration measures age against the real clock: make every time an integer age <= 0.
    return pastOnly ? list.map((c) => ({ ...c, secs: -Math.round(secs - c.secs) })) : list;
  };

  const policy = (depth: number): PolicySpec => {
    const kind = pick(['LatestN', 'EveryNSteps', 'EveryNStepsClosest', 'EveryNSeconds', 'CustomSteps', 'BestN', 'LatestDuration', ...(depth === 0 ? ['Any'] : [])]);
    const interval = pick([-3, 1, 2, 3, 4, 5, 7, 10]);
    switch (kind) {
      case 'LatestN':
        return { kind, n: maybe(() => int(0, 6)) };
      case 'EveryNSteps':
        return { kind, interval, exact: random() < 0.5, maxToKeep: maybe(() => int(0, 4)) };
      case 'EveryNStepsClosest':
        return { kind, interval: Math.abs(interval), maxToKeep: maybe(() => int(0, 4)) };
      case 'EveryNSeconds':
        return { kind, secs: int(0, 4) };
      case 'CustomSteps':
        return { kind, steps: Array.from({ length: int(0, 5) }, () => int(0, 30)) };
      case 'BestN':
        return { kind, reverse: random() < 0.5, n: maybe(() => int(0, 6)), keep: random() < 0.5 };
      case 'LatestDuration':
        // Half-second durations never coincide with the integer ages of the checkpoints.
        return { kind, secs: int(0, 12) + 0.5 };
      default:
        return { kind, policies: Array.from({ length: int(1, 3) }, () => policy(depth + 1)) };
    }
  };

  const preserve = Array.from({ length: 400 }, () => {
    const spec = policy(0);
    const usesNow = JSON.stringify(spec).includes('LatestDuration');
    return { policy: spec, checkpoints: checkpoints(random() < 0.8, usesNow) };
  });

  const simulateCases = Array.from({ length: 150 }, () => {
    const best = random() < 0.4;
    const options = {
      interval: pick([1, 1, 2, 3, 5]),
      maxToKeep: maybe(() => int(0, 4)),
      keepPeriod: random() < 0.3 ? pick([2, 3, 4]) : null,
      keepTimeIntervalMs: random() < 0.3 ? pick([500, 1000, 2000, 2999]) : null,
      saveOnSteps: random() < 0.3 ? [int(0, 20), int(0, 20)] : null,
      best,
      bestMode: pick(['min', 'max'] as const),
      keep: random() < 0.5,
    };
    const first = int(0, 3);
    const saves = Array.from({ length: int(1, 20) }, (_, i) => ({ step: first + i, secs: (first + i) * 0.7, metrics: lossValue() }));
    return { options, saves };
  });
  return { preserve, simulate: simulateCases };
}

test('differential: policies and derived options agree with the real Orbax 0.12.8 on random cases', async (t) => {
  const { refPython } = await import('./helpers/interop.js');
  const python = refPython();
  if (python === null) {
    t.log('SKIPPED: the Python reference (.venv-ref) is not installed');
    t.pass();
    return;
  }
  const { spawnSync } = await import('node:child_process');
  const cases = randomCases(20250101);
  const result = spawnSync(python, ['-c', ORACLE], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 64 << 20 });
  t.is(result.status, 0, result.stderr);
  const oracle = JSON.parse(result.stdout) as { preserve: boolean[][]; simulate: number[][] };

  const now = new Date(T0);
  const ours = cases.preserve.map(({ policy, checkpoints }) =>
    buildPolicy(policy).shouldPreserve(
      checkpoints.map((c) => ({ step: c.step, time: new Date(T0 + c.secs * 1000), metrics: c.metrics })),
      { now },
    ),
  );
  const mismatches = ours.flatMap((flags, i) =>
    JSON.stringify(flags) === JSON.stringify(oracle.preserve[i]) ? [] : [{ case: cases.preserve[i], ours: flags, orbax: oracle.preserve[i] }],
  );
  t.deepEqual(mismatches, []);

  const simulated = cases.simulate.map(({ options, saves }) =>
    simulate(
      {
        saveIntervalSteps: options.interval,
        maxToKeep: options.maxToKeep,
        keepPeriod: options.keepPeriod,
        keepTimeIntervalMs: options.keepTimeIntervalMs,
        saveOnSteps: options.saveOnSteps,
        ...(options.best ? { bestFn: loss, bestMode: options.bestMode, keepCheckpointsWithoutMetrics: options.keep } : {}),
      },
      saves.map((s) => ({ ...s, metrics: options.best ? s.metrics : null })),
    ).final,
  );
  const simMismatches = simulated.flatMap((steps, i) =>
    JSON.stringify(steps) === JSON.stringify(oracle.simulate[i]) ? [] : [{ case: cases.simulate[i], ours: steps, orbax: oracle.simulate[i] }],
  );
  t.deepEqual(simMismatches, []);
  t.is(ours.length, 400);
  t.is(simulated.length, 150);
});
