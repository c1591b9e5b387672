/** Resolving `multiprocessingOptions` for a save: which process this is, who commits, how to wait. */
import { type MultiprocessingOptions, multiprocessingOptionsSchema } from '../checkpointManagers/optionTypes.js';
import { InvalidArgumentError } from '../errors.js';
import { parseOptions } from '../validation.js';
import type { Coordinator } from './coordinator.js';

export type { MultiprocessingOptions };

/** Multiprocessing options with every default applied. */
export interface ResolvedMultiprocessing {
  readonly processIndex: number;
  readonly processCount: number;
  readonly primaryHost: number;
  readonly isPrimary: boolean;
  readonly barrierSyncKeyPrefix: string;
  readonly coordinator: Coordinator | undefined;
  readonly timeoutMs: number;
}

/** Single process, process 0: what every save does without options. */
export const SINGLE_PROCESS: ResolvedMultiprocessing = Object.freeze({
  processIndex: 0,
  processCount: 1,
  primaryHost: 0,
  isPrimary: true,
  barrierSyncKeyPrefix: 'default',
  coordinator: undefined,
  timeoutMs: 300_000,
});

export function resolveMultiprocessing(options: MultiprocessingOptions | undefined): ResolvedMultiprocessing {
  if (options === undefined) return SINGLE_PROCESS;
  const o = parseOptions(multiprocessingOptionsSchema, options, 'multiprocessingOptions');
  const processCount = o.processCount ?? 1;
  const processIndex = o.processIndex ?? 0;
  if (o.primaryHost === null && processCount > 1) {
    throw new InvalidArgumentError('multiprocessingOptions: a multi-process save needs a primaryHost (it merges and commits).');
  }
  if (o.activeProcesses && processCount > 1) {
    throw new InvalidArgumentError('multiprocessingOptions: activeProcesses (saving with a subset of the processes) is not supported.');
  }
  const barrierPrefix = o.barrierSyncKeyPrefix ?? undefined;
  if (barrierPrefix !== undefined && !/^[A-Za-z0-9._-]+$/.test(barrierPrefix)) {
    throw new InvalidArgumentError(`multiprocessingOptions: barrierSyncKeyPrefix may hold letters, digits, ".", "_" and "-" only, got ${JSON.stringify(barrierPrefix)}`);
  }
  const primaryHost = o.primaryHost ?? 0;
  if (processIndex >= processCount) {
    throw new InvalidArgumentError(`multiprocessingOptions: processIndex ${processIndex} is not below processCount ${processCount}`);
  }
  if (primaryHost >= processCount) {
    throw new InvalidArgumentError(`multiprocessingOptions: primaryHost ${primaryHost} is not below processCount ${processCount}`);
  }
  return Object.freeze({
    processIndex,
    processCount,
    primaryHost,
    isPrimary: processIndex === primaryHost,
    barrierSyncKeyPrefix: barrierPrefix ?? runIdFromEnvironment(),
    coordinator: o.coordinator,
    timeoutMs: (o.barrierTimeoutSecs ?? 300) * 1000,
  });
}

/**
 * Launchers that start all processes of a job give them a shared job id: the default barrier
 * prefix, so that a relaunched job never meets the markers of a crashed one. `ORBAX_TS_RUN_ID`
 * first, then Slurm's and torchrun's ids; `'default'` without any.
 */
export function runIdFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  for (const name of ['ORBAX_TS_RUN_ID', 'SLURM_JOB_ID', 'TORCHELASTIC_RUN_ID']) {
    const value = env[name]?.replace(/[^A-Za-z0-9._-]/g, '_');
    if (value) return value;
  }
  return 'default';
}
