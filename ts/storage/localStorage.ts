/** {@link Storage} on the local file system (node:fs), for absolute paths and `file://` URLs. */
import { randomBytes } from 'node:crypto';
import { cp, link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { InvalidArgumentError } from '../errors.js';
import { type ByteRange, checkRange, type Storage, type StorageEntry } from './storage.js';

/** A local path for `location` (`file://` URLs become paths). */
function toPath(location: string): string {
  return location.startsWith('file://') ? fileURLToPath(location) : location;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

class LocalStorage implements Storage {
  readonly kind = 'local' as const;
  readonly hasAtomicRename = true;
  readonly options = undefined;

  resolve(location: string): string {
    return resolve(toPath(location));
  }

  join(location: string, ...parts: string[]): string {
    return join(toPath(location), ...parts);
  }

  parent(location: string): string {
    return dirname(toPath(location));
  }

  basename(location: string): string {
    return basename(toPath(location));
  }

  async exists(location: string): Promise<boolean> {
    return stat(toPath(location)).then(
      () => true,
      () => false,
    );
  }

  async isDirectory(location: string): Promise<boolean> {
    return stat(toPath(location)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  async isFile(location: string): Promise<boolean> {
    return stat(toPath(location)).then(
      (s) => !s.isDirectory(),
      () => false,
    );
  }

  async list(location: string): Promise<StorageEntry[]> {
    let entries;
    try {
      entries = await readdir(toPath(location), { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
      throw error;
    }
    const listed = await Promise.all(
      entries.map(async (entry) => ({
        name: entry.name,
        // Symlinks count as what they point to, as stat-based checks see them.
        isDirectory: entry.isDirectory() || (entry.isSymbolicLink() && (await this.isDirectory(join(entry.parentPath, entry.name)))),
      })),
    );
    return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async modifiedMs(location: string): Promise<number | undefined> {
    return stat(toPath(location)).then(
      (s) => s.mtimeMs,
      () => undefined,
    );
  }

  async read(location: string, range?: ByteRange): Promise<Uint8Array | undefined> {
    try {
      if (range === undefined) return await readFile(toPath(location));
      checkRange(range);
      const file = await open(toPath(location), 'r');
      try {
        const length = range.end - range.start;
        if (range.end > (await file.stat()).size) {
          throw new InvalidArgumentError(`byte range ${range.start}..${range.end} is past the end of ${location} (${(await file.stat()).size} bytes)`, {
            code: 'ERR_STORE_RANGE_OUT_OF_BOUNDS',
          });
        }
        const out = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await file.read(out, done, length - done, range.start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return out.subarray(0, done);
      } finally {
        await file.close();
      }
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(location: string, data: Uint8Array | string): Promise<void> {
    const path = toPath(location);
    const temp = await writeTemp(path, data);
    try {
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  async writeIfAbsent(location: string, data: Uint8Array | string): Promise<boolean> {
    const path = toPath(location);
    const temp = await writeTemp(path, data);
    try {
      // A hard link publishes the complete file, and fails if the name is taken.
      await link(temp, path);
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
  }

  async makeDirectory(location: string): Promise<void> {
    await mkdir(toPath(location), { recursive: true });
  }

  async remove(location: string): Promise<void> {
    await rm(toPath(location), { recursive: true, force: true });
  }

  async copy(source: string, destination: string): Promise<void> {
    await cp(toPath(source), toPath(destination), { recursive: true });
  }
}

/** The local file system. */
/**
 * Writes `data` next to `path` under a temporary name and returns that name, so that the caller
 * can publish the complete file at once (readers never see a partial one).
 */
async function writeTemp(path: string, data: Uint8Array | string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.orbax-ts-tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, data);
  return temp;
}

export const localStorage: Storage = new LocalStorage();
