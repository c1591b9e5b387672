/**
 * {@link Storage} on object stores (S3, GCS, Azure, `memory://`) through the native core's
 * `storage*` functions. Locations are URLs and are joined as strings: node:path would collapse
 * `s3://` into `s3:/`.
 */
import { callNative } from '../errors.js';
import { native } from '../native.js';
import { type ByteRange, checkRange, type Storage, type StorageEntry, type StorageOptions } from './storage.js';

/** `location` without trailing slashes (but `scheme://bucket` keeps its `//`). */
function trimSlashes(location: string): string {
  let end = location.length;
  while (end > 0 && location[end - 1] === '/') end--;
  const trimmed = location.slice(0, end);
  return trimmed.endsWith(':') ? location : trimmed;
}

function toBuffer(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The part of a URL after `scheme://`. */
function pathPartOf(location: string): { head: string; rest: string } {
  const at = location.indexOf('://');
  return at === -1 ? { head: '', rest: location } : { head: location.slice(0, at + 3), rest: location.slice(at + 3) };
}

class ObjectStorage implements Storage {
  readonly kind = 'object' as const;
  readonly hasAtomicRename = false;
  readonly options: StorageOptions | undefined;

  constructor(options: StorageOptions | undefined) {
    this.options = options;
  }

  resolve(location: string): string {
    return trimSlashes(location);
  }

  join(location: string, ...parts: string[]): string {
    let joined = trimSlashes(location);
    for (const part of parts) {
      const clean = part.replace(/^\/+|\/+$/g, '');
      if (clean !== '') joined = `${joined}/${clean}`;
    }
    return joined;
  }

  parent(location: string): string {
    const { head, rest } = pathPartOf(trimSlashes(location));
    const at = rest.lastIndexOf('/');
    return at === -1 ? head + rest : head + rest.slice(0, at);
  }

  basename(location: string): string {
    const { rest } = pathPartOf(trimSlashes(location));
    return rest.slice(rest.lastIndexOf('/') + 1);
  }

  #options(): Record<string, string> | null {
    return this.options ?? null;
  }

  async exists(location: string): Promise<boolean> {
    return (await callNative(() => native.storageStat(location, this.#options()))).exists;
  }

  async isDirectory(location: string): Promise<boolean> {
    return (await callNative(() => native.storageStat(location, this.#options()))).isDirectory;
  }

  async isFile(location: string): Promise<boolean> {
    return (await callNative(() => native.storageStat(location, this.#options()))).isFile;
  }

  async list(location: string): Promise<StorageEntry[]> {
    return callNative(() => native.storageList(location, this.#options()));
  }

  async modifiedMs(location: string): Promise<number | undefined> {
    return (await callNative(() => native.storageStat(location, this.#options()))).modifiedMs ?? undefined;
  }

  async read(location: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    if (range) checkRange(range);
    return (await callNative(() => native.storageRead(location, range ? { start: range.start, end: range.end } : null, this.#options()))) ?? undefined;
  }

  async write(location: string, data: Uint8Array | string): Promise<void> {
    await callNative(() => native.storageWrite(location, toBuffer(data), this.#options()));
  }

  async writeIfAbsent(location: string, data: Uint8Array | string): Promise<boolean> {
    return callNative(() => native.storageWriteIfAbsent(location, toBuffer(data), this.#options()));
  }

  async makeDirectory(): Promise<void> {
    // Prefixes exist once an object is written under them.
  }

  async remove(location: string): Promise<void> {
    await callNative(() => native.storageRemove(location, this.#options()));
  }

  async copy(source: string, destination: string): Promise<void> {
    await callNative(() => native.storageCopy(source, destination, this.#options()));
  }
}

/** Object storage with `options` (credentials, region, endpoint...). */
export function objectStorage(options?: StorageOptions): Storage {
  return new ObjectStorage(options);
}
