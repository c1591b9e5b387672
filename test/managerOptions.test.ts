// resolveManagerOptions: validation (exact messages), defaults, read-only overrides, and the
// save/preservation policies Orbax 0.12.8 derives from CheckpointManagerOptions.
import test from 'ava';

import * as ocp from 'orbax-ts';

import CheckpointManagers = ocp.checkpointManagers;

const cm = ocp.checkpointManagers;

type Options = CheckpointManagers.CheckpointManagerOptions;

function resolveQuietly(options: Options): { resolved: CheckpointManagers.ResolvedCheckpointManagerOptions; warnings: string[] } {
  const warnings: string[] = [];
  const resolved = cm.resolveManagerOptions(options, { warn: (message) => warnings.push(message) });
  return { resolved, warnings };
}

function rejects(t: import('ava').ExecutionContext, options: unknown, message: string): void {
  const error = t.throws(() => cm.resolveManagerOptions(options as Options, { warn: () => {} }), {
    instanceOf: ocp.InvalidArgumentError,
  });
  t.is(error?.message, message);
  t.is((error as ocp.InvalidArgumentError | undefined)?.pythonType, 'ValueError');
}

const noop = { shouldPreserve: (list: readonly unknown[]) => list.map(() => true) };

test('defaults are those of Orbax 0.12.8', (t) => {
  const { resolved, warnings } = resolveQuietly({});
  const { saveDecisionPolicy, preservationPolicy, saveOnSteps, ...plain } = resolved;
  t.deepEqual(plain, {
    saveIntervalSteps: 1,
    maxToKeep: null,
    keepTimeIntervalMs: null,
    keepPeriod: null,
    bestFn: null,
    bestMode: 'max',
    keepCheckpointsWithoutMetrics: true,
    stepPrefix: null,
    stepFormatFixedLength: null,
    stepNameFormat: null,
    create: true,
    cleanupTmpDirectories: false,
    singleHostLoadAndBroadcast: false,
    todeleteSubdir: null,
    todeleteFullPath: null,
    enableBackgroundDelete: false,
    numDeletionThreads: null,
    readOnly: false,
    enableAsyncCheckpointing: true,
    asyncOptions: { timeoutSecs: 1200, postFinalizationCallback: null, createDirectoriesAsynchronously: true },
    multiprocessingOptions: { primaryHost: 0, activeProcesses: null, barrierSyncKeyPrefix: null },
    shouldSaveFn: null,
    fileOptions: { pathPermissionMode: null, skipSyncFileValidations: false },
    atomicityOptions: { mode: 'auto', allowLegacyAtomicRename: false },
    saveRootMetadata: true,
    preventWriteMetrics: false,
    enableShouldSaveIsSavingInProgressCheck: true,
    enablePerProcessDirectoryCreation: false,
    lightweightInitialize: false,
  });
  t.deepEqual([...saveOnSteps], []);
  t.deepEqual(warnings, []);
  t.true(Object.isFrozen(resolved));
  t.deepEqual(cm.resolveManagerOptions().saveIntervalSteps, 1);

  // Default save policy: Any(FixedInterval(1), SpecificSteps({}), Preemption, InitialSave).
  t.true(saveDecisionPolicy instanceof cm.AnySavePolicy);
  const savePolicies = (saveDecisionPolicy as CheckpointManagers.AnySavePolicy).policies;
  t.deepEqual(
    savePolicies.map((p) => p.constructor.name),
    ['FixedIntervalPolicy', 'SpecificStepsPolicy', 'PreemptionCheckpointingPolicy', 'InitialSavePolicy'],
  );
  t.is((savePolicies[0] as CheckpointManagers.FixedIntervalPolicy).interval, 1);
  // Default preservation policy: Any(LatestN(null)).
  t.true(preservationPolicy instanceof cm.AnyPreservationPolicy);
  const keepPolicies = (preservationPolicy as CheckpointManagers.AnyPreservationPolicy).policies;
  t.deepEqual(keepPolicies.map((p) => p.constructor.name), ['LatestN']);
  t.is((keepPolicies[0] as CheckpointManagers.LatestN).n, null);
});

test('the derived preservation policy: Any(EveryNSteps(keepPeriod), EveryNSeconds(whole secs), BestN | LatestN)', (t) => {
  const bestFn = (m: Record<string, unknown>) => m.loss as number;
  const { resolved } = resolveQuietly({
    keepPeriod: 4,
    keepTimeIntervalMs: 2999,
    bestFn,
    bestMode: 'min',
    maxToKeep: 3,
    keepCheckpointsWithoutMetrics: false,
  });
  const [everyN, everySecs, best, ...rest] = (resolved.preservationPolicy as CheckpointManagers.AnyPreservationPolicy).policies;
  t.deepEqual(rest, []);
  t.true(everyN instanceof cm.EveryNSteps);
  t.like(everyN as CheckpointManagers.EveryNSteps, { intervalSteps: 4, exactInterval: true, maxToKeep: null });
  t.true(everySecs instanceof cm.EveryNSeconds);
  t.is((everySecs as CheckpointManagers.EveryNSeconds).intervalSecs, 2);
  t.true(best instanceof cm.BestN);
  t.like(best as CheckpointManagers.BestN, { getMetricFn: bestFn, reverse: true, n: 3, keepCheckpointsWithoutMetrics: false });

  const latest = (resolveQuietly({ maxToKeep: 2 }).resolved.preservationPolicy as CheckpointManagers.AnyPreservationPolicy).policies;
  t.is(latest.length, 1);
  t.is((latest[0] as CheckpointManagers.LatestN).n, 2);
  const maxMode = (resolveQuietly({ bestFn }).resolved.preservationPolicy as CheckpointManagers.AnyPreservationPolicy).policies;
  t.like(maxMode[0] as CheckpointManagers.BestN, { reverse: false, n: null, keepCheckpointsWithoutMetrics: true });
});

test('the derived save policy: shouldSaveFn replaces interval/specific/initial; saveOnSteps is kept as a set', (t) => {
  const shouldSaveFn = (step: number) => step % 3 === 0;
  const withFn = resolveQuietly({ shouldSaveFn, saveIntervalSteps: 5, saveOnSteps: [7] }).resolved;
  const fnPolicies = (withFn.saveDecisionPolicy as CheckpointManagers.AnySavePolicy).policies;
  t.deepEqual(fnPolicies.map((p) => p.constructor.name), ['ShouldSaveFnPolicy', 'PreemptionCheckpointingPolicy']);
  t.is((fnPolicies[0] as CheckpointManagers.ShouldSaveFnPolicy).shouldSaveFn, shouldSaveFn);

  const specific = resolveQuietly({ saveOnSteps: new Set([5, 3, 5]) }).resolved;
  t.deepEqual([...specific.saveOnSteps].sort(), [3, 5]);
  const [, steps] = (specific.saveDecisionPolicy as CheckpointManagers.AnySavePolicy).policies;
  t.deepEqual([...(steps as CheckpointManagers.SpecificStepsPolicy).steps].sort(), [3, 5]);

  // saveIntervalSteps null: no interval policy at all (only saveOnSteps, preemption, initial).
  const noInterval = resolveQuietly({ saveIntervalSteps: null }).resolved;
  t.deepEqual(
    (noInterval.saveDecisionPolicy as CheckpointManagers.AnySavePolicy).policies.map((p) => p.constructor.name),
    ['SpecificStepsPolicy', 'PreemptionCheckpointingPolicy', 'InitialSavePolicy'],
  );
});

test('user policies are used as given and replace the individual options', (t) => {
  const saveDecisionPolicy = new cm.ContinuousCheckpointingPolicy();
  const preservationPolicy = new cm.LatestN(4);
  const { resolved } = resolveQuietly({ saveDecisionPolicy, preservationPolicy, saveIntervalSteps: 0, bestFn: () => 1 });
  t.is(resolved.saveDecisionPolicy, saveDecisionPolicy);
  t.is(resolved.preservationPolicy, preservationPolicy);
});

test('readOnly forces the Orbax overrides, warning once for each option that was set', (t) => {
  const { resolved, warnings } = resolveQuietly({
    readOnly: true,
    saveIntervalSteps: 5,
    maxToKeep: 3,
    keepTimeIntervalMs: 1000,
    keepPeriod: 2,
    cleanupTmpDirectories: true,
    saveOnSteps: [1, 2],
    todeleteSubdir: 'trash',
    shouldSaveFn: () => true,
  });
  t.deepEqual(warnings, [
    'CheckpointManagerOptions.readOnly=true, setting saveIntervalSteps=0.',
    'CheckpointManagerOptions.readOnly=true, setting maxToKeep=null.',
    'CheckpointManagerOptions.readOnly=true, setting keepTimeIntervalMs=null.',
    'CheckpointManagerOptions.readOnly=true, setting keepPeriod=null.',
    'CheckpointManagerOptions.readOnly=true, setting create=false.',
    'CheckpointManagerOptions.readOnly=true, setting cleanupTmpDirectories=false.',
    'CheckpointManagerOptions.readOnly=true, setting saveOnSteps=null.',
    'CheckpointManagerOptions.readOnly=true, setting todeleteSubdir=null.',
    'CheckpointManagerOptions.readOnly=true, setting shouldSaveFn=null.',
  ]);
  t.like(resolved, {
    readOnly: true,
    saveIntervalSteps: 0,
    maxToKeep: null,
    keepTimeIntervalMs: null,
    keepPeriod: null,
    create: false,
    cleanupTmpDirectories: false,
    todeleteSubdir: null,
    shouldSaveFn: null,
  });
  t.deepEqual([...resolved.saveOnSteps], []);
  // The interval-0 policy is carried but never consulted: the gate refuses first.
  const ctx = { isSavingInProgress: false, reachedPreemption: false, now: new Date(0) };
  t.false(cm.shouldSaveStep(0, [], resolved, ctx));
});

test('readOnly with the defaults warns about saveIntervalSteps and create; todeleteFullPath is cleared too', (t) => {
  t.deepEqual(resolveQuietly({ readOnly: true }).warnings, [
    'CheckpointManagerOptions.readOnly=true, setting saveIntervalSteps=0.',
    'CheckpointManagerOptions.readOnly=true, setting create=false.',
  ]);
  // Python tests `save_on_steps` for truthiness: an empty collection is cleared silently.
  const { resolved, warnings } = resolveQuietly({
    readOnly: true,
    saveIntervalSteps: 0,
    create: false,
    todeleteFullPath: 'bucket/trash',
    saveOnSteps: [],
  });
  t.deepEqual(warnings, ['CheckpointManagerOptions.readOnly=true, setting todeleteFullPath=null.']);
  t.is(resolved.todeleteFullPath, null);
});

test('readOnly clears the delete options before the preservationPolicy exclusivity check', (t) => {
  const { resolved } = resolveQuietly({ readOnly: true, maxToKeep: 3, preservationPolicy: noop });
  t.is(resolved.preservationPolicy, noop);
});

test('readOnly uses console.warn by default', (t) => {
  const original = console.warn;
  const seen: unknown[] = [];
  console.warn = (...args: unknown[]) => seen.push(args.join(' '));
  try {
    cm.resolveManagerOptions({ readOnly: true, create: false });
  } finally {
    console.warn = original;
  }
  t.deepEqual(seen, ['CheckpointManagerOptions.readOnly=true, setting saveIntervalSteps=0.']);
});

test('bestMode must be max or min', (t) => {
  rejects(t, { bestMode: 'avg' }, "`CheckpointManagerOptions.bestMode` must be one of 'min' or 'max'. Got avg.");
  rejects(t, { bestMode: null }, "`CheckpointManagerOptions.bestMode` must be one of 'min' or 'max'. Got null.");
  t.is(resolveQuietly({ bestMode: 'min' }).resolved.bestMode, 'min');
});

test('maxToKeep must be null or non-negative (checked before the read-only override)', (t) => {
  rejects(t, { maxToKeep: -1 }, 'Setting of `maxToKeep` must be null or non-negative.');
  rejects(t, { maxToKeep: -1, readOnly: true }, 'Setting of `maxToKeep` must be null or non-negative.');
  t.is(resolveQuietly({ maxToKeep: 0 }).resolved.maxToKeep, 0);
});

test('preservationPolicy is exclusive with maxToKeep, keepPeriod and keepTimeIntervalMs (by truthiness, as Orbax)', (t) => {
  const message =
    '`preservationPolicy` and `delete options` (maxToKeep, keepPeriod, keepTimeIntervalMs) are mutually exclusive - do not use together.';
  rejects(t, { preservationPolicy: noop, maxToKeep: 2 }, message);
  rejects(t, { preservationPolicy: noop, keepPeriod: 5 }, message);
  rejects(t, { preservationPolicy: noop, keepTimeIntervalMs: 1000 }, message);
  // A negative maxToKeep is not range-checked when a preservation policy is set, but conflicts.
  rejects(t, { preservationPolicy: noop, maxToKeep: -1 }, message);
  // Zero values are falsy in Python: no conflict, and they are ignored.
  const { resolved } = resolveQuietly({ preservationPolicy: noop, maxToKeep: 0, keepPeriod: 0, keepTimeIntervalMs: 0 });
  t.is(resolved.preservationPolicy, noop);
});

test('todeleteSubdir and todeleteFullPath are exclusive', (t) => {
  rejects(t, { todeleteSubdir: 'trash', todeleteFullPath: 'x/y' }, 'todeleteSubdir and todeleteFullPath both cannot be set together.');
});

test('enablePerProcessDirectoryCreation needs primaryHost null', (t) => {
  rejects(
    t,
    { enablePerProcessDirectoryCreation: true },
    'enablePerProcessDirectoryCreation can only be used when multiprocessingOptions.primaryHost is null.',
  );
  const { resolved } = resolveQuietly({ enablePerProcessDirectoryCreation: true, multiprocessingOptions: { primaryHost: null } });
  t.is(resolved.multiprocessingOptions.primaryHost, null);
});

test('saveIntervalSteps 0 is rejected up front when it would be used (Orbax: ZeroDivisionError later)', (t) => {
  const message =
    '`saveIntervalSteps` must not be 0 (Orbax divides by it when deciding whether to save); use readOnly: true for a manager that never saves.';
  rejects(t, { saveIntervalSteps: 0 }, message);
  // Not used: replaced by shouldSaveFn or a saveDecisionPolicy, or read-only.
  t.notThrows(() => resolveQuietly({ saveIntervalSteps: 0, shouldSaveFn: () => true }));
  t.notThrows(() => resolveQuietly({ saveIntervalSteps: 0, saveDecisionPolicy: new cm.InitialSavePolicy() }));
  t.is(resolveQuietly({ saveIntervalSteps: 0, readOnly: true }).resolved.saveIntervalSteps, 0);
});

test('keepPeriod 0 is rejected up front when it would be used (Orbax fails after writing the step)', (t) => {
  rejects(t, { keepPeriod: 0 }, '`keepPeriod` must not be 0 (Orbax fails with "interval_steps must not be 0." after writing the step).');
  t.notThrows(() => resolveQuietly({ keepPeriod: 0, readOnly: true }));
});

test('structural errors name the option (zod), including snake_case Python names', (t) => {
  rejects(t, { max_to_keep: 3 }, 'Invalid CheckpointManagerOptions: ✖ Unrecognized key: "max_to_keep"');
  rejects(t, { maxToKeep: 1.5 }, 'Invalid CheckpointManagerOptions: ✖ Invalid input: expected int, received number\n  → at maxToKeep');
  rejects(t, { saveOnSteps: 5 }, 'Invalid CheckpointManagerOptions: ✖ Expected an iterable of integer steps\n  → at saveOnSteps');
  rejects(t, { saveOnSteps: [1, 2.5] }, 'Invalid CheckpointManagerOptions: ✖ Invalid input: expected int, received number\n  → at saveOnSteps[1]');
  rejects(t, { bestFn: 3 }, 'Invalid CheckpointManagerOptions: ✖ Expected a function\n  → at bestFn');
  rejects(
    t,
    { preservationPolicy: {} },
    'Invalid CheckpointManagerOptions: ✖ Expected a PreservationPolicy (an object with a shouldPreserve method)\n  → at preservationPolicy',
  );
  rejects(
    t,
    { saveDecisionPolicy: { shouldPreserve: () => [] } },
    'Invalid CheckpointManagerOptions: ✖ Expected a SaveDecisionPolicy (an object with a shouldSave method)\n  → at saveDecisionPolicy',
  );
  rejects(
    t,
    { stepNameFormat: { buildName: () => '1' } },
    'Invalid CheckpointManagerOptions: ✖ Expected a NameFormat (an object with buildName, findAll and findStep methods)\n  → at stepNameFormat',
  );
  rejects(t, { asyncOptions: { timeoutSecs: -1 } }, 'Invalid CheckpointManagerOptions: ✖ Too small: expected number to be >0\n  → at asyncOptions.timeoutSecs');
  rejects(t, { atomicityOptions: { mode: 'copy' } }, 'Invalid CheckpointManagerOptions: ✖ Invalid option: expected one of "auto"|"commit_file"|"atomic_rename"\n  → at atomicityOptions.mode');
});

test('nested options are resolved with their defaults', (t) => {
  const callback = () => {};
  const nameFormat = { buildName: (s: number) => `ckpt_${s}`, findAll: async () => [], findStep: async () => null };
  const { resolved } = resolveQuietly({
    asyncOptions: { timeoutSecs: 30, postFinalizationCallback: callback },
    multiprocessingOptions: { activeProcesses: [0], barrierSyncKeyPrefix: 'p' },
    fileOptions: { pathPermissionMode: 0o750 },
    atomicityOptions: { mode: 'commit_file' },
    stepNameFormat: nameFormat,
    stepPrefix: 'ckpt',
    stepFormatFixedLength: 3,
    numDeletionThreads: 4,
  });
  t.deepEqual(resolved.asyncOptions, { timeoutSecs: 30, postFinalizationCallback: callback, createDirectoriesAsynchronously: true });
  t.deepEqual(resolved.multiprocessingOptions, { primaryHost: 0, activeProcesses: new Set([0]), barrierSyncKeyPrefix: 'p' });
  t.deepEqual(resolved.fileOptions, { pathPermissionMode: 0o750, skipSyncFileValidations: false });
  t.deepEqual(resolved.atomicityOptions, { mode: 'commit_file', allowLegacyAtomicRename: false });
  t.is(resolved.stepNameFormat, nameFormat);
  t.like(resolved, { stepPrefix: 'ckpt', stepFormatFixedLength: 3, numDeletionThreads: 4 });
});
