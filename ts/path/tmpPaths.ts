/**
 * Temporary (uncommitted) checkpoint directories: naming, creation, listing and cleanup
 * (0.12.8 `atomicity.AtomicRenameTemporaryPath` and `temporary_paths`, exposed under their
 * older `path.step` names).
 */
import { mkdir } from 'node:fs/promises';

import { type AtomicityCheckOptions, type AtomicityOptions, isPathTemporary, parseCheckOptions, TMP_DIR_SUFFIX } from './atomicity.js';
import { storageFor, type StorageLocationOptions, storageLocationOptionsSchema, type StorageOptions } from '../storage/index.js';
import { parseOptions } from '../validation.js';

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
  const storage = storageFor(finalPath);
  const path = storage.resolve(finalPath);
  return storage.join(storage.parent(path), storage.basename(path) + TMP_DIR_SUFFIX);
}

/**
 * Creates the temporary directory of `finalDir` with 0.12.8's semantics: an existing one is
 * removed with a warning (it was never finalized; the seed's FileExistsError is gone), the
 * directory is made with its parents, and `_CHECKPOINT_METADATA` gets the init timestamp.
 * Resolves to the temporary directory.
 */
export async function createTmpDirectory(finalDir: string, opts?: StorageLocationOptions): Promise<string> {
  const { storageOptions } = parseOptions(storageLocationOptionsSchema, opts, 'createTmpDirectory options');
  const storage = storageFor(finalDir, storageOptions);
  const tmpDir = getTmpDirectory(finalDir);
  if (await storage.exists(tmpDir)) {
    console.warn(`Attempted to create temporary directory ${tmpDir} which already exists. Removing existing directory since it is not finalized.`);
    await storage.remove(tmpDir);
  }
  if (storage.kind === 'local') {
    await mkdir(storage.parent(tmpDir), { recursive: true });
    // exist_ok=False in Python: a directory that reappeared meanwhile is an error (EEXIST).
    await mkdir(tmpDir);
  }
  await storage.write(storage.join(tmpDir, STEP_METADATA_FILE), initialStepMetadataJson(timeNs()));
  return tmpDir;
}

/** The temporary entries of `directory` as absolute paths, sorted by name (`[]` if it is missing). */
export async function allTemporaryPaths(directory: string, atomicityOptions?: AtomicityOptions, storageOptions?: StorageOptions): Promise<string[]> {
  const storage = storageFor(directory, storageOptions);
  const dir = storage.resolve(directory);
  if (!(await storage.exists(dir))) return [];
  const paths = (await storage.list(dir)).map((entry) => storage.join(dir, entry.name));
  const temporary = await Promise.all(paths.map((path) => isPathTemporary(path, atomicityOptions, storageOptions)));
  return paths.filter((_, i) => temporary[i]);
}

/**
 * Python `tmp_checkpoints`: names of the temporary entries of `checkpointDir`, sorted
 * (e.g. `['7.orbax-checkpoint-tmp']`); `[]` for a missing directory. In commit-file mode every
 * directory without `commit_success.txt` is temporary.
 */
export async function tmpCheckpoints(checkpointDir: string, opts?: AtomicityCheckOptions): Promise<string[]> {
  const { atomicityOptions, storageOptions } = parseCheckOptions(opts, 'tmpCheckpoints options');
  const storage = storageFor(checkpointDir, storageOptions);
  return (await allTemporaryPaths(checkpointDir, atomicityOptions, storageOptions)).map((path) => storage.basename(path));
}

/**
 * Python `cleanup_tmp_directories` (0.12.8 `cleanup_temporary_paths`): deletes every temporary
 * entry of `directory`; resolves to the removed names, sorted.
 */
export async function cleanupTmpDirectories(directory: string, opts?: AtomicityCheckOptions): Promise<string[]> {
  const { atomicityOptions, storageOptions } = parseCheckOptions(opts, 'cleanupTmpDirectories options');
  const storage = storageFor(directory, storageOptions);
  const paths = await allTemporaryPaths(directory, atomicityOptions, storageOptions);
  await Promise.all(paths.map((path) => storage.remove(path)));
  return paths.map((path) => storage.basename(path));
}
