/**
 * Snapshots of step directories (layout §10.9): while a reader holds a step, it reads a private
 * copy at `<snapshotDir or checkpointDir/_SNAPSHOTS>/<step name>`, so that a writer deleting old
 * steps (a manager's `max_to_keep`) cannot pull the files out from under it.
 *
 * Orbax deep-copies the step. orbax-ts recreates the directory tree and HARD-LINKS every file
 * instead, which costs a few metadata operations per file rather than the checkpoint's size. A
 * hard link is a second name of the same inode: when the writer deletes the step, only its names
 * go away, and the inodes (the bytes) live on as long as the snapshot names them. That is safe
 * because checkpoint files are never modified after the commit (the writer only creates whole
 * new step directories and deletes old ones), and the reader never writes to a snapshot. Where
 * linking is impossible (another filesystem, EXDEV; a filesystem or policy that forbids it,
 * EPERM/ENOTSUP/EMLINK...), that one file is copied (cloned where the filesystem can).
 *
 * On object stores the step is copied (see objectStoreSnapshots.ts); the snapshot root must be
 * on the same kind of storage as the step.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { isRemoteLocation, storageFor, type StorageOptions } from '../storage/index.js';
import { exists } from '../util/fsChecks.js';
import { forEachLimited } from './forEachLimited.js';
import { createObjectStoreSnapshot } from './objectStoreSnapshots.js';
import { isVanishedError, stepVanishedError } from './vanishedStep.js';

export { isVanishedError } from './vanishedStep.js';

/** Default snapshot directory name under the checkpoint directory. */
export const SNAPSHOTS_DIR = '_SNAPSHOTS';

/** How a file gets into a snapshot; replaceable in tests to exercise the copy fallback. */
export type LinkFile = (existingPath: string, newPath: string) => Promise<void>;

/**
 * Python `get_snapshot_dir_from_step_dir`: where the snapshot of `stepDir` lives,
 * `<snapshotDir or parent/_SNAPSHOTS>/<step dir name>`.
 */
export function getSnapshotDirFromStepDir(stepDir: string, snapshotDir?: string): string {
  if (!isRemoteLocation(stepDir)) return join(snapshotDir ?? join(stepDir, '..', SNAPSHOTS_DIR), basename(stepDir));
  const storage = storageFor(stepDir);
  return storage.join(snapshotDir ?? storage.join(storage.parent(stepDir), SNAPSHOTS_DIR), storage.basename(stepDir));
}

const LINK_CONCURRENCY = 16;

/**
 * Recreates the tree `src` at `dst` (which must not exist): directories made, files hard-linked
 * (copied where linking fails for any reason but a vanished source), symlinks recreated as they
 * are. Resolves to the relative paths it placed, sorted. A source that vanishes midway rejects
 * with its ENOENT error.
 */
export async function linkOrCopyTree(src: string, dst: string, linkFile: LinkFile = link): Promise<string[]> {
  const placed: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    await mkdir(join(dst, relative));
    const entries = await readdir(join(src, relative), { withFileTypes: true });
    await forEachLimited(entries, LINK_CONCURRENCY, async (entry) => {
      const rel = relative === '' ? entry.name : join(relative, entry.name);
      const from = join(src, rel);
      const to = join(dst, rel);
      if (entry.isDirectory()) {
        await walk(rel);
      } else if (entry.isSymbolicLink()) {
        await symlink(await readlink(from), to);
      } else if (entry.isFile()) {
        try {
          await linkFile(from, to);
        } catch (error) {
          if (isVanishedError(error)) throw error;
          await copyFile(from, to, constants.COPYFILE_FICLONE);
        }
      } else {
        return; // sockets, FIFOs, devices: not checkpoint content
      }
      placed.push(rel);
    });
  };
  await walk('');
  return placed.sort();
}

/** Relative paths of every directory, file and symlink under `root`, sorted (as {@link linkOrCopyTree} places them). */
async function listTree(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(root, relative), { withFileTypes: true });
    for (const entry of entries) {
      const rel = relative === '' ? entry.name : join(relative, entry.name);
      if (entry.isDirectory()) {
        found.push(rel);
        await walk(rel);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        found.push(rel);
      }
    }
  };
  await walk('');
  return found.sort();
}

/** How {@link createSnapshot} reaches the step. */
export interface CreateSnapshotOptions {
  /** Local steps: how a file gets into the snapshot (tests replace it). */
  linkFile?: LinkFile | undefined;
  /** Object-store configuration, for URL steps. */
  storageOptions?: StorageOptions | undefined;
}

/**
 * Makes the snapshot of `stepDir` under `snapshotRoot` (created if needed) and resolves to its
 * path; an existing snapshot is reused as is (as in Orbax). The tree is built under a private
 * name and renamed into place, so nobody sees a half-made snapshot. If the step vanishes or
 * changes meanwhile (the writer deleting or replacing it), the partial copy is removed and the
 * promise rejects with an ENOENT error (see {@link isVanishedError}); the caller polls again.
 */
export async function createSnapshot(stepDir: string, snapshotRoot: string, options: CreateSnapshotOptions = {}): Promise<string> {
  if (isRemoteLocation(stepDir) !== isRemoteLocation(snapshotRoot)) {
    throw new InvalidArgumentError(`Snapshot directory ${snapshotRoot} must be on the same storage as the step ${stepDir}.`);
  }
  if (isRemoteLocation(stepDir)) return createObjectStoreSnapshot(stepDir, snapshotRoot, storageFor(stepDir, options.storageOptions));
  try {
    await mkdir(snapshotRoot, { recursive: true });
  } catch (error) {
    throw new InvalidArgumentError(`Failed to create snapshot directory ${snapshotRoot}. Please provide a snapshot directory instead.`, { cause: error });
  }
  const target = getSnapshotDirFromStepDir(stepDir, snapshotRoot);
  if (await exists(target)) return target;

  const before = await stat(stepDir);
  if (!before.isDirectory()) throw stepVanishedError(stepDir);
  const staging = join(snapshotRoot, `.${basename(stepDir)}.orbax-ts-snapshot-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const placed = await linkOrCopyTree(stepDir, staging, options.linkFile);
    // A writer deleting the step removes files before the directory, and may have removed some
    // before they were listed. The step is immutable once committed, so any difference between
    // a fresh listing and what was placed (or a new inode: the step was replaced) means the
    // snapshot may be partial.
    const after = await stat(stepDir).catch((error: unknown) => {
      throw isVanishedError(error) ? stepVanishedError(stepDir) : error;
    });
    if (after.ino !== before.ino || after.dev !== before.dev) throw stepVanishedError(stepDir);
    const now = await listTree(stepDir);
    if (now.length !== placed.length || now.some((rel, i) => rel !== placed[i])) throw stepVanishedError(stepDir);
    try {
      await rename(staging, target);
    } catch (error) {
      // Another reader made the same snapshot meanwhile: use theirs.
      if (!(await exists(target))) throw error;
      await rm(staging, { recursive: true, force: true });
    }
    return target;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** What to do when a snapshot to delete is already gone. */
export interface ReleaseOptions {
  /** Warn (with `warning`) instead of rejecting with a `NotFoundError`. */
  ignoreErrors: boolean;
  warning: string;
  /** Object-store configuration, for URL snapshots. */
  storageOptions?: StorageOptions | undefined;
}

/**
 * Deletes the snapshot at `snapshotPath`. A missing snapshot is a `NotFoundError`
 * (`Snapshot does not exist: <path>`), or only a warning when errors are ignored (Orbax's
 * `ignore_snapshot_errors`, default true).
 */
export async function releaseSnapshot(snapshotPath: string, options: ReleaseOptions): Promise<void> {
  const storage = storageFor(snapshotPath, options.storageOptions);
  if (!(await storage.exists(snapshotPath))) {
    const error = new NotFoundError(`Snapshot does not exist: ${snapshotPath}`);
    if (!options.ignoreErrors) throw error;
    console.warn(`${options.warning}: ${error.message}`);
    return;
  }
  await storage.remove(snapshotPath);
}

/** Deletes every entry of `snapshotRoot` (leftovers of readers that died); the directory stays. */
export async function removeLeftoverSnapshots(snapshotRoot: string, ignoreErrors: boolean, storageOptions?: StorageOptions): Promise<void> {
  const storage = storageFor(snapshotRoot, storageOptions);
  if (!(await storage.exists(snapshotRoot))) return;
  for (const { name } of await storage.list(snapshotRoot)) {
    await releaseSnapshot(storage.join(snapshotRoot, name), { ignoreErrors, warning: `Ignoring error when cleaning up leftover snapshot: ${name}`, storageOptions });
  }
}
