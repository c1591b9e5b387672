/** Picking the {@link Storage} of a location. */
import { z } from 'zod';

import { localStorage } from './localStorage.js';
import { objectStorage } from './objectStorage.js';
import type { Storage, StorageOptions } from './storage.js';

export { localStorage } from './localStorage.js';
export { objectStorage } from './objectStorage.js';
export type { ByteRange, Storage, StorageEntry, StorageOptions } from './storage.js';

/** zod schema of {@link StorageOptions}, for every options object that accepts `storageOptions`. */
export const storageOptionsSchema = z.record(z.string(), z.string());

/** Options objects that only carry `storageOptions`. */
export interface StorageLocationOptions {
  /** Object-store configuration (credentials, region, endpoint...), for URL locations. */
  storageOptions?: StorageOptions | undefined;
}

/** zod schema of {@link StorageLocationOptions}. */
export const storageLocationOptionsSchema = z.object({ storageOptions: storageOptionsSchema.optional() }).strict();

const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** True for object-store URLs (`s3://`, `gs://`, `az://`, `memory://`...); `file://` and paths are local. */
export function isRemoteLocation(location: string): boolean {
  const scheme = URL_SCHEME.exec(String(location))?.[1];
  return scheme !== undefined && scheme.toLowerCase() !== 'file';
}

/** The storage `location` lives on: object storage (configured by `options`) for URLs, else the file system. */
export function storageFor(location: string, options?: StorageOptions): Storage {
  return isRemoteLocation(location) ? objectStorage(options) : localStorage;
}
