/** Yes/no questions about paths, answered without throwing (a missing path is simply "no"). */
import { lstat } from 'node:fs/promises';

import { isRemoteLocation, storageFor, type StorageOptions } from '../storage/index.js';

/** Whether `path` exists (following symlinks; object stores: an object or a non-empty prefix). */
export async function exists(path: string, storageOptions?: StorageOptions): Promise<boolean> {
  return storageFor(path, storageOptions).exists(path);
}

/** Whether `path` is a directory (following symlinks; object stores: a non-empty prefix). */
export async function isDirectory(path: string, storageOptions?: StorageOptions): Promise<boolean> {
  return storageFor(path, storageOptions).isDirectory(path);
}

/** Whether `path` itself is a symbolic link (never on object stores). */
export async function isSymlink(path: string): Promise<boolean> {
  if (isRemoteLocation(path)) return false;
  return lstat(path).then(
    (s) => s.isSymbolicLink(),
    () => false,
  );
}
