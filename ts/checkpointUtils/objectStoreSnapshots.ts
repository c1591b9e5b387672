/**
 * Snapshots of steps on object stores (S3, GCS, Azure, `memory://`). There are no hard links
 * there, so the step is copied (server-side, object by object) to
 * `<snapshot root>/<step name>`; the copy costs the checkpoint's size in storage while held.
 *
 * Object stores have no atomic rename either, so a snapshot is published the way a checkpoint is
 * committed there: its `commit_success.txt` is copied last, and a snapshot without it is
 * unfinished (a reader that died mid-copy, or one copying now). The same marker tells when the
 * step itself is being deleted: a writer removes the step's `commit_success.txt` before its
 * files, so a marker still present once everything else has been copied proves the copy whole.
 */
import { COMMIT_SUCCESS_FILE } from '../path/atomicity.js';
import type { Storage } from '../storage/index.js';
import { forEachLimited } from './forEachLimited.js';
import { isVanishedError, stepVanishedError } from './vanishedStep.js';

// Sub-trees copied at once (each copy is one request per object).
const COPY_CONCURRENCY = 16;

/**
 * Copies the committed step `stepDir` to `<snapshotRoot>/<step name>` and resolves to that
 * location; a finished snapshot there is reused as is (as in Orbax). If the step loses its
 * `commit_success.txt` meanwhile (a writer deleting it), the partial copy is removed and the
 * promise rejects with an ENOENT error (see `isVanishedError`); the caller polls again.
 */
export async function createObjectStoreSnapshot(stepDir: string, snapshotRoot: string, storage: Storage): Promise<string> {
  const target = storage.join(snapshotRoot, storage.basename(stepDir));
  const targetMarker = storage.join(target, COMMIT_SUCCESS_FILE);
  if (await storage.isFile(targetMarker)) return target;
  const sourceMarker = storage.join(stepDir, COMMIT_SUCCESS_FILE);
  if (!(await storage.isFile(sourceMarker))) throw stepVanishedError(stepDir);
  // An unfinished snapshot left there may hold objects of an older save of the same step.
  await storage.remove(target);
  try {
    const entries = (await storage.list(stepDir)).filter((entry) => entry.isDirectory || entry.name !== COMMIT_SUCCESS_FILE);
    await forEachLimited(entries, COPY_CONCURRENCY, (entry) => storage.copy(storage.join(stepDir, entry.name), storage.join(target, entry.name)));
    // Copying an object that is gone copies nothing: the marker's absence afterwards tells.
    await storage.copy(sourceMarker, targetMarker);
    if (!(await storage.isFile(targetMarker))) throw stepVanishedError(stepDir);
    return target;
  } catch (error) {
    await storage.remove(target);
    // An object deleted between the listing and its copy fails the copy: the step is going.
    if (!isVanishedError(error) && (await storage.isFile(sourceMarker))) throw error;
    throw stepVanishedError(stepDir);
  }
}
