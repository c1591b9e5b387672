/**
 * Errors of orbax-ts. Every error thrown by the library is an {@link OrbaxError}; the subclass
 * says which Python exception Orbax raises in the same situation (`pythonType`), and `code` is a
 * stable machine-readable code (`ERR_OCDBT_CHECKSUM`, ...). Native errors are mapped here, and
 * only here.
 */

/** Base class of every orbax-ts error. */
export class OrbaxError extends Error {
  /** Stable code, e.g. `ERR_INVALID_ARGUMENT`, `ERR_OCDBT_CHECKSUM`. */
  readonly code: string;
  /** The Python exception Orbax raises in the same situation. */
  readonly pythonType: string;

  constructor(message: string, opts: { code?: string; pythonType?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code ?? 'ERR_ORBAX';
    this.pythonType = opts.pythonType ?? 'Exception';
  }
}

/** Python `ValueError`: a bad argument or an unusable checkpoint state. */
export class InvalidArgumentError extends OrbaxError {
  constructor(message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, { code: opts.code ?? 'ERR_INVALID_ARGUMENT', pythonType: 'ValueError', cause: opts.cause });
  }
}

/** Python `FileNotFoundError`. */
export class NotFoundError extends OrbaxError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'ENOENT', pythonType: 'FileNotFoundError', cause: opts.cause });
  }
}

/** Python `KeyError`. */
export class KeyNotFoundError extends OrbaxError {
  constructor(message: string, opts: { code?: string; cause?: unknown } = {}) {
    super(message, { code: opts.code ?? 'ERR_KEY_NOT_FOUND', pythonType: 'KeyError', cause: opts.cause });
  }
}

/** Python `TypeError`: a value of a type that cannot be saved or restored this way. */
export class UnsupportedTypeError extends OrbaxError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'ERR_UNSUPPORTED_TYPE', pythonType: 'TypeError', cause: opts.cause });
  }
}

/** A step that already exists (Orbax's `StepAlreadyExistsError`, a `ValueError`). */
export class StepAlreadyExistsError extends InvalidArgumentError {
  constructor(message: string) {
    super(message, { code: 'ERR_STEP_ALREADY_EXISTS' });
  }
}

/** A registry entry that already exists (Orbax's `AlreadyExistsError`). */
export class AlreadyExistsError extends OrbaxError {
  constructor(message: string) {
    super(message, { code: 'ERR_ALREADY_EXISTS', pythonType: 'AlreadyExistsError' });
  }
}

/** A registry lookup that found nothing (Orbax's `NoEntryError`, a `KeyError`). */
export class NoEntryError extends KeyNotFoundError {
  constructor(message: string) {
    super(message, { code: 'ERR_NO_ENTRY' });
  }
}

/**
 * A damaged checkpoint: a bad checksum, a truncated or malformed file, a missing chunk. `code`
 * says what (`ERR_OCDBT_CHECKSUM`, `ERR_OCDBT_TRUNCATED`, `ERR_OCDBT_CORRUPT`,
 * `ERR_OCDBT_MISSING_FILE`, `ERR_OCDBT_TOO_LARGE`, `ERR_ZARR_CORRUPT_CHUNK`, `ERR_ZARR_CHECKSUM`,
 * `ERR_ZARR_MISSING_CHUNK`, `ERR_METADATA`, `ERR_TRUNCATED`); the message names the file.
 */
export class CorruptCheckpointError extends OrbaxError {
  constructor(message: string, code: string, opts: { cause?: unknown } = {}) {
    super(message, { code, pythonType: 'ValueError', cause: opts.cause });
  }
}

/**
 * Processes of a multi-process save did not all reach a synchronization point in time (one was
 * killed, hung or never started). `missingProcesses` lists their indices; nothing was committed.
 */
export class BarrierTimeoutError extends OrbaxError {
  readonly missingProcesses: readonly number[];
  constructor(message: string, missingProcesses: readonly number[], opts: { cause?: unknown } = {}) {
    super(message, { code: 'ERR_BARRIER_TIMEOUT', pythonType: 'TimeoutError', cause: opts.cause });
    this.missingProcesses = Object.freeze([...missingProcesses]);
  }
}

/** A checkpoint that uses something orbax-ts does not support (a dtype, a codec, a format version). */
export class UnsupportedFormatError extends OrbaxError {
  constructor(message: string, code: string, opts: { cause?: unknown } = {}) {
    super(message, { code, pythonType: 'ValueError', cause: opts.cause });
  }
}

/** An operation stopped through an `AbortSignal`. */
export class AbortError extends OrbaxError {
  constructor(message = 'The operation was aborted.', opts: { cause?: unknown } = {}) {
    super(message, { code: 'ABORT_ERR', pythonType: 'CancelledError', cause: opts.cause });
  }
}

const NATIVE_CODE = /^\[(ERR_[A-Z0-9_]+)\] ([\s\S]*)$/;

const CORRUPT_CODES = new Set([
  'ERR_OCDBT_CHECKSUM',
  'ERR_OCDBT_TRUNCATED',
  'ERR_OCDBT_CORRUPT',
  'ERR_OCDBT_MISSING_FILE',
  'ERR_OCDBT_TOO_LARGE',
  'ERR_ZARR_CORRUPT_CHUNK',
  'ERR_ZARR_CHECKSUM',
  'ERR_ZARR_MISSING_CHUNK',
  'ERR_ZARR_METADATA',
  'ERR_METADATA',
  'ERR_TRUNCATED',
]);

const UNSUPPORTED_CODES = new Set(['ERR_OCDBT_UNSUPPORTED', 'ERR_ZARR_UNSUPPORTED_DTYPE', 'ERR_ZARR_UNSUPPORTED_CODEC']);

/** Turns an error thrown by the native core into the matching {@link OrbaxError}. */
export function fromNativeError(error: unknown): Error {
  if (error instanceof OrbaxError || !(error instanceof Error)) {
    return error instanceof Error ? error : new OrbaxError(String(error));
  }
  const match = NATIVE_CODE.exec(error.message);
  if (!match) {
    return new OrbaxError(error.message, { code: 'ERR_INTERNAL', cause: error });
  }
  const code = match[1] as string;
  const message = match[2] as string;
  if (CORRUPT_CODES.has(code)) return new CorruptCheckpointError(message, code);
  if (UNSUPPORTED_CODES.has(code)) return new UnsupportedFormatError(message, code);
  switch (code) {
    case 'ERR_NOT_FOUND':
      return new NotFoundError(message);
    case 'ERR_NOT_A_CHECKPOINT':
      return new InvalidArgumentError(message, { code });
    case 'ERR_KEY_NOT_FOUND':
      return new KeyNotFoundError(message);
    case 'ERR_INVALID_ARGUMENT':
      return new InvalidArgumentError(message);
    case 'ERR_STORE_RANGE_OUT_OF_BOUNDS':
      return new InvalidArgumentError(message, { code });
    case 'ERR_CANCELLED':
      return new AbortError(message);
    default:
      return new OrbaxError(message, { code });
  }
}

/** Awaits a native call, mapping its errors. */
export async function callNative<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromNativeError(error);
  }
}

/** Runs a synchronous native call, mapping its errors. */
export function callNativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw fromNativeError(error);
  }
}
