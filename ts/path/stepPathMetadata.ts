/** `path.step.Metadata`: a step number and its directory, with lazily read timestamps. */
import { stat } from 'node:fs/promises';

import { NotFoundError } from '../errors.js';
import { readStepMetadata } from '../metadata/stepMetadata.js';
import { storageFor, type StorageOptions } from '../storage/index.js';

interface Timestamps {
  init: bigint | null;
  commit: bigint | null;
}

/**
 * Python `orbax.checkpoint.path.step.Metadata` (a frozen dataclass): equal when step and path are
 * equal. The timestamps come from `<path>/_CHECKPOINT_METADATA`, read once on first use; a
 * missing or unparseable file gives `null` (the native reader applies Orbax's tolerance).
 */
export class Metadata {
  readonly step: number;
  readonly path: string;
  readonly #storageOptions: StorageOptions | undefined;
  // Like Python's cached_property, a failed read is not cached: the next call tries again.
  #timestamps: Promise<Timestamps> | undefined;

  /** `storageOptions`: object-store configuration, when `path` is a URL. */
  constructor(step: number, path: string, storageOptions?: StorageOptions) {
    this.step = step;
    this.path = path;
    this.#storageOptions = storageOptions;
  }

  #readTimestamps(): Promise<Timestamps> {
    if (this.#timestamps === undefined) {
      const pending = readStepMetadata(this.path, null, this.#storageOptions).then((meta) => ({ init: meta.initTimestampNsecs, commit: meta.commitTimestampNsecs }));
      this.#timestamps = pending;
      pending.catch(() => {
        if (this.#timestamps === pending) this.#timestamps = undefined;
      });
    }
    return this.#timestamps;
  }

  /** Nanoseconds since the epoch when the (then temporary) step directory was created, or null. */
  async initTimestampNsecs(): Promise<bigint | null> {
    return (await this.#readTimestamps()).init;
  }

  /** Nanoseconds since the epoch when the step was committed, or null. */
  async commitTimestampNsecs(): Promise<bigint | null> {
    return (await this.#readTimestamps()).commit;
  }

  /**
   * The commit time (millisecond precision), falling back to the directory's mtime when
   * `_CHECKPOINT_METADATA` has no commit timestamp (a hand-made step directory is still a step).
   */
  async commitTimestamp(): Promise<Date> {
    const nsecs = await this.commitTimestampNsecs();
    if (nsecs !== null) return new Date(Number(nsecs / 1_000_000n));
    const storage = storageFor(this.path, this.#storageOptions);
    // Locally a missing directory rejects with stat's own ENOENT error, as before.
    if (storage.kind === 'local') return new Date((await stat(this.path)).mtimeMs);
    const modified = await storage.modifiedMs(this.path);
    if (modified === undefined) throw new NotFoundError(`No such file or directory: ${this.path}`);
    return new Date(modified);
  }

  /** Dataclass equality: same step and same path. */
  equals(other: unknown): boolean {
    return other instanceof Metadata && other.step === this.step && other.path === this.path;
  }

  toString(): string {
    return `Metadata(step=${this.step}, path=${this.path})`;
  }
}

/** Alias that does not clash with `metadata.StepMetadata` (the `_CHECKPOINT_METADATA` contents). */
export { Metadata as StepPathMetadata };
