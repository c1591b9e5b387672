/**
 * The legacy step scan (layout §10.8): any committed directory named all digits or ending in
 * `_<digits>`, whatever the configured name format. Used by `checkpointUtils` and
 * `restore(directory=…)`.
 */
import { opendir, readdir, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';

import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { isPathFinalized } from './atomicity.js';
import { exists } from '../util/fsChecks.js';

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
async function isLegacyFinalizedStep(path: string, name: string): Promise<boolean> {
  if (!(ALL_DIGITS.test(name) || ALL_DIGITS.test(name.split('_').at(-1) as string))) return false;
  try {
    if (!(await stat(path)).isDirectory()) return false;
  } catch {
    return false;
  }
  return isPathFinalized(path);
}

/**
 * Python `checkpoint_steps_paths`: the committed legacy step directories of `checkpointDir`
 * (`[]` if it is missing), sorted by name (Python's order is unspecified).
 */
export async function checkpointStepsPaths(checkpointDir: string): Promise<string[]> {
  const dir = resolve(checkpointDir);
  if (!(await exists(dir))) return [];
  const names = (await readdir(dir)).sort();
  const hits = await Promise.all(names.map((name) => isLegacyFinalizedStep(resolve(dir, name), name)));
  return names.filter((_, i) => hits[i]).map((name) => resolve(dir, name));
}

/**
 * Python `checkpoint_steps`: the steps of {@link checkpointStepsPaths}, sorted ascending (Python's
 * order is unspecified). Duplicates stay (`5` and `ckpt_5` give `[5, 5]`).
 */
export async function checkpointSteps(checkpointDir: string): Promise<number[]> {
  const paths = await checkpointStepsPaths(checkpointDir);
  return paths.map((path) => stepFromCheckpointName(basename(path))).sort((a, b) => a - b);
}

/**
 * Python `any_checkpoint_step`: the step of the first committed legacy step directory in directory
 * order (neither the min nor the max), or null. A missing directory is an error, as in Python.
 */
export async function anyCheckpointStep(checkpointDir: string): Promise<number | null> {
  const path = resolve(checkpointDir);
  let dir;
  try {
    dir = await opendir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`No such file or directory: ${path}`, { cause: error });
    throw error;
  }
  // Leaving the loop early closes the directory handle.
  for await (const entry of dir) {
    if (await isLegacyFinalizedStep(resolve(path, entry.name), entry.name)) return stepFromCheckpointName(entry.name);
  }
  return null;
}
