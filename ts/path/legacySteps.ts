/**
 * The legacy step scan (layout §10.8): any committed directory named all digits or ending in
 * `_<digits>`, whatever the configured name format. Used by `checkpointUtils` and
 * `restore(directory=…)`.
 */
import { opendir } from 'node:fs/promises';

import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { isPathFinalized } from './atomicity.js';
import { storageFor, type StorageLocationOptions, storageLocationOptionsSchema, type StorageOptions } from '../storage/index.js';
import { parseOptions } from '../validation.js';

/** Python `ALLOWED_STEP_NAME_PATTERN`: any non-empty prefix, `_`, digits. */
export const ALLOWED_STEP_NAME_PATTERN = String.raw`(.+)_(\d+)`;
/** Python `TMP_DIR_STEP_PATTERN`: the step of `[prefix_]<step>.orbax-checkpoint-tmp[...]`. */
export const TMP_DIR_STEP_PATTERN = String.raw`.*?_*?(\d+)\.orbax-checkpoint-tmp`;

const ALL_DIGITS = /^\d+$/;
const ALLOWED_STEP_NAME = new RegExp(`^(?:${ALLOWED_STEP_NAME_PATTERN})$`);
const TMP_DIR_STEP = new RegExp(`^(?:${TMP_DIR_STEP_PATTERN})`);

/**
 * Python `step_from_checkpoint_name`: all digits → the number (`'007'` → 7); else the last number
 * of `<prefix>_<digits>` (`'a_b_7'` → 7); else the step of a temporary name
 * (`'3.orbax-checkpoint-tmp-1703334121930256'` → 3); else `InvalidArgumentError`
 * (`Unrecognized name format: <name>.`).
 */
export function stepFromCheckpointName(name: string): number {
  if (ALL_DIGITS.test(name)) return Number(name);
  const allowed = ALLOWED_STEP_NAME.exec(name);
  if (allowed) return Number(allowed[2]);
  const tmp = TMP_DIR_STEP.exec(name);
  if (tmp) return Number(tmp[1]);
  throw new InvalidArgumentError(`Unrecognized name format: ${name}.`);
}

/** Python `_is_legacy_step_checkpoint` + finalized: a directory named `<digits>` or `…_<digits>`, committed. */
async function isLegacyFinalizedStep(path: string, name: string, storageOptions?: StorageOptions): Promise<boolean> {
  if (!(ALL_DIGITS.test(name) || ALL_DIGITS.test(name.split('_').at(-1) as string))) return false;
  if (!(await storageFor(path, storageOptions).isDirectory(path))) return false;
  return isPathFinalized(path, undefined, storageOptions);
}

/**
 * Python `checkpoint_steps_paths`: the committed legacy step directories of `checkpointDir`
 * (`[]` if it is missing), sorted by name (Python's order is unspecified).
 */
export async function checkpointStepsPaths(checkpointDir: string, opts?: StorageLocationOptions): Promise<string[]> {
  const { storageOptions } = parseOptions(storageLocationOptionsSchema, opts, 'checkpointStepsPaths options');
  const storage = storageFor(checkpointDir, storageOptions);
  const dir = storage.resolve(checkpointDir);
  if (!(await storage.exists(dir))) return [];
  const names = (await storage.list(dir)).map((entry) => entry.name);
  const hits = await Promise.all(names.map((name) => isLegacyFinalizedStep(storage.join(dir, name), name, storageOptions)));
  return names.filter((_, i) => hits[i]).map((name) => storage.join(dir, name));
}

/**
 * Python `checkpoint_steps`: the steps of {@link checkpointStepsPaths}, sorted ascending (Python's
 * order is unspecified). Duplicates stay (`5` and `ckpt_5` give `[5, 5]`).
 */
export async function checkpointSteps(checkpointDir: string, opts?: StorageLocationOptions): Promise<number[]> {
  const storage = storageFor(checkpointDir);
  const paths = await checkpointStepsPaths(checkpointDir, opts);
  return paths.map((path) => stepFromCheckpointName(storage.basename(path))).sort((a, b) => a - b);
}

/**
 * Python `any_checkpoint_step`: the step of the first committed legacy step directory in directory
 * order (neither the min nor the max), or null. A missing directory is an error, as in Python.
 */
export async function anyCheckpointStep(checkpointDir: string, opts?: StorageLocationOptions): Promise<number | null> {
  const { storageOptions } = parseOptions(storageLocationOptionsSchema, opts, 'anyCheckpointStep options');
  const storage = storageFor(checkpointDir, storageOptions);
  const path = storage.resolve(checkpointDir);
  if (storage.kind === 'object') {
    if (!(await storage.exists(path))) throw new NotFoundError(`No such file or directory: ${path}`);
    for (const entry of await storage.list(path)) {
      if (await isLegacyFinalizedStep(storage.join(path, entry.name), entry.name, storageOptions)) return stepFromCheckpointName(entry.name);
    }
    return null;
  }
  let dir;
  try {
    dir = await opendir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`No such file or directory: ${path}`, { cause: error });
    throw error;
  }
  // Leaving the loop early closes the directory handle.
  for await (const entry of dir) {
    if (await isLegacyFinalizedStep(storage.join(path, entry.name), entry.name)) return stepFromCheckpointName(entry.name);
  }
  return null;
}
