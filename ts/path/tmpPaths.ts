/**
 * Temporary (uncommitted) checkpoint directories: naming, creation, listing and cleanup
 * (0.12.8 `atomicity.AtomicRenameTemporaryPath` and `temporary_paths`, exposed under their
 * older `path.step` names).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import { type AtomicityCheckOptions, type AtomicityOptions, isPathTemporary, parseAtomicityCheckOptions, TMP_DIR_SUFFIX } from './atomicity.js';
import { exists } from '../util/fsChecks.js';

/** The file of step metadata (`_CHECKPOINT_METADATA`, layout §3.2). */
const STEP_METADATA_FILE = '_CHECKPOINT_METADATA';

/**
 * `_CHECKPOINT_METADATA` as Orbax writes it when creating a temporary directory: Python
 * `json.dumps` of a StepMetadata holding only the init timestamp. The text is fixed ASCII apart
 * from the integer, so it is spelled out here rather than serialized.
 */
function initialStepMetadataJson(initTimestampNsecs: bigint): string {
  return (
    '{"item_handlers": null, "metrics": {}, "performance_metrics": {}, ' +
    `"init_timestamp_nsecs": ${initTimestampNsecs.toString()}, "commit_timestamp_nsecs": null, "custom_metadata": {}}`
  );
}

/** Wall-clock nanoseconds since the epoch (Python `time.time_ns()`, at millisecond resolution). */
function timeNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * The temporary directory of `finalPath`: `<parent>/<name>.orbax-checkpoint-tmp`. Deterministic
 * since 0.12 (the seed's "non-deterministic" refers to the old timestamp suffix). No I/O.
 */
export function getTmpDirectory(finalPath: string): string {
  const path = resolve(finalPath);
  return join(dirname(path), basename(path) + TMP_DIR_SUFFIX);
}

/**
 * Creates the temporary directory of `finalDir` with 0.12.8's semantics: an existing one is
 * removed with a warning (it was never finalized; the seed's FileExistsError is gone), the
 * directory is made with its parents, and `_CHECKPOINT_METADATA` gets the init timestamp.
 * Resolves to the temporary directory.
 */
export async function createTmpDirectory(finalDir: string): Promise<string> {
  const tmpDir = getTmpDirectory(finalDir);
  if (await exists(tmpDir)) {
    console.warn(`Attempted to create temporary directory ${tmpDir} which already exists. Removing existing directory since it is not finalized.`);
    await rm(tmpDir, { recursive: true, force: true });
  }
  await mkdir(dirname(tmpDir), { recursive: true });
  // exist_ok=False in Python: a directory that reappeared meanwhile is an error (EEXIST).
  await mkdir(tmpDir);
  await writeFile(join(tmpDir, STEP_METADATA_FILE), initialStepMetadataJson(timeNs()));
  return tmpDir;
}

/** The temporary entries of `directory` as absolute paths, sorted by name (`[]` if it is missing). */
export async function allTemporaryPaths(directory: string, atomicityOptions?: AtomicityOptions): Promise<string[]> {
  const dir = resolve(directory);
  if (!(await exists(dir))) return [];
  const paths = (await readdir(dir)).sort().map((name) => join(dir, name));
  const temporary = await Promise.all(paths.map((path) => isPathTemporary(path, atomicityOptions)));
  return paths.filter((_, i) => temporary[i]);
}

/**
 * Python `tmp_checkpoints`: names of the temporary entries of `checkpointDir`, sorted
 * (e.g. `['7.orbax-checkpoint-tmp']`); `[]` for a missing directory. In commit-file mode every
 * directory without `commit_success.txt` is temporary.
 */
export async function tmpCheckpoints(checkpointDir: string, opts?: AtomicityCheckOptions): Promise<string[]> {
  const atomicityOptions = parseAtomicityCheckOptions(opts, 'tmpCheckpoints options');
  return (await allTemporaryPaths(checkpointDir, atomicityOptions)).map((path) => basename(path));
}

/**
 * Python `cleanup_tmp_directories` (0.12.8 `cleanup_temporary_paths`): deletes every temporary
 * entry of `directory`; resolves to the removed names, sorted.
 */
export async function cleanupTmpDirectories(directory: string, opts?: AtomicityCheckOptions): Promise<string[]> {
  const atomicityOptions = parseAtomicityCheckOptions(opts, 'cleanupTmpDirectories options');
  const paths = await allTemporaryPaths(directory, atomicityOptions);
  await Promise.all(paths.map((path) => rm(path, { recursive: true, force: true })));
  return paths.map((path) => basename(path));
}
