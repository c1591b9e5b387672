/**
 * Lazy, random-access reading of one PyTree item: list its leaves without reading any chunk,
 * then read single leaves, slices of them, or everything, optionally into caller-owned memory
 * (which avoids a copy in Electron, whose memory cage forbids external buffers).
 */
import { z } from 'zod';

import { callNative, InvalidArgumentError, KeyNotFoundError } from '../errors.js';
import type { ArrayMetadata, ScalarMetadata, ShardingMetadata, StorageMetadata, StringMetadata, ValueMetadata } from '../metadata/types.js';
import { native } from '../native.js';
import type { CheckpointItem, LeafEntry } from '../../native/index.cjs';
import { type AnyTypedArray, type DType, isDType, itemSize, typedArrayFromBytes } from '../tree/dtypes.js';
import { array, type NdArray, sizeOf } from '../tree/ndarray.js';
import { type TransferOptions, transferOf, transferOptionsShape, withTransfer } from '../transfer.js';
import type { PathKey } from '../tree/pytree.js';

/** One leaf or empty node of an item, as `_METADATA` records it. */
export interface LeafInfo {
  /** Path from the root: strings for dict keys, numbers for sequence indices. */
  readonly path: readonly PathKey[];
  /** Param name (path joined by `.`), the key of the array in the store. */
  readonly param: string;
  /** Orbax value type: `np.ndarray`, `jax.Array`, `scalar`, `string`, or an empty-node type. */
  readonly valueType: string;
  /** Metadata of the value; null for empty nodes and placeholders. */
  readonly metadata: ValueMetadata | null;
}

/** A per-dimension `[start, end)` range, or null for the whole dimension. */
export type SliceSpec = ReadonlyArray<readonly [number, number] | null>;

/** Options of a read. */
export interface ReadArrayOptions extends TransferOptions {
  /** Only this hyper-rectangle (missing trailing dimensions are whole). */
  slice?: SliceSpec;
  /** Cast to this dtype (numpy `astype` semantics). */
  dtype?: DType;
  /** Upper bound of GiB decoded at once (Orbax's `restore_concurrent_gb`). */
  concurrentGb?: number;
}

const sliceSchema = z.array(z.union([z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]), z.null()]));
const readOptionsSchema = z
  .object({
    slice: sliceSchema.optional(),
    dtype: z.string().refine(isDType, { message: 'unknown dtype' }).optional(),
    concurrentGb: z.number().positive().optional(),
    ...transferOptionsShape,
  })
  .strict();

/** Options of opening an item. */
export interface OpenCheckpointOptions {
  /**
   * Configuration of an object store (`s3://`, `gs://`, `az://` locations), as object_store
   * names it: `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, `aws_endpoint`,
   * `aws_allow_http`, `google_service_account`, `azure_storage_account_name`... It overrides the
   * environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
   */
  storageOptions?: Record<string, string>;
}

function parseOpenOptions(opts: OpenCheckpointOptions): OpenCheckpointOptions {
  const result = z.object({ storageOptions: z.record(z.string(), z.string()).optional() }).strict().safeParse(opts ?? {});
  if (!result.success) throw new InvalidArgumentError(`Invalid open options: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** Whether `location` is a URL of an object store rather than a local path. */
export function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

function parseReadOptions(opts: ReadArrayOptions | undefined): ReadArrayOptions {
  const result = readOptionsSchema.safeParse(opts ?? {});
  if (!result.success) {
    throw new InvalidArgumentError(`Invalid read options: ${z.prettifyError(result.error)}`);
  }
  return result.data as ReadArrayOptions;
}

function storageOf(entry: LeafEntry): StorageMetadata {
  const a = entry.array!;
  return Object.freeze({
    chunkShape: Object.freeze(a.chunkShape),
    writeShape: entry.writeShape ? Object.freeze(entry.writeShape) : null,
    zarrMetadata: Object.freeze({ zarrFormat: a.zarrFormat as 2 | 3, compression: a.compression ?? null, text: a.zarrMetadata }),
  });
}

function valueMetadataOf(entry: LeafEntry, directory: string): ValueMetadata | null {
  if (entry.skipDeserialize) return null;
  if (entry.valueType === 'string') {
    const meta: StringMetadata = { kind: 'string', name: entry.param, directory };
    return Object.freeze(meta);
  }
  if (!entry.array) return null;
  if (!isDType(entry.array.dtype)) {
    throw new InvalidArgumentError(`Unsupported dtype ${entry.array.dtype} for ${entry.param}`);
  }
  if (entry.valueType === 'scalar') {
    const meta: ScalarMetadata = {
      kind: 'scalar',
      name: entry.param,
      directory,
      shape: Object.freeze(entry.array.shape),
      dtype: entry.array.dtype,
      storage: storageOf(entry),
    };
    return Object.freeze(meta);
  }
  const meta: ArrayMetadata = {
    kind: 'array',
    name: entry.param,
    directory,
    shape: Object.freeze(entry.array.shape),
    dtype: entry.array.dtype,
    sharding: entry.sharding ? (Object.freeze(JSON.parse(entry.sharding)) as ShardingMetadata) : null,
    storage: storageOf(entry),
    valueType: entry.valueType,
  };
  return Object.freeze(meta);
}

/** An opened item directory (the directory holding `_METADATA`). */
export class CheckpointReader {
  readonly directory: string;
  readonly useOcdbt: boolean;
  readonly useZarr3: boolean;
  /** `custom_metadata` of `_METADATA` (the StandardSave / PyTreeSave argument). */
  readonly customMetadata: unknown;
  readonly #item: CheckpointItem;
  readonly #leaves: readonly LeafInfo[];
  readonly #entries: readonly LeafEntry[];
  readonly #byParam: Map<string, number>;

  private constructor(item: CheckpointItem) {
    const info = item.info();
    this.#item = item;
    this.directory = info.dir;
    this.useOcdbt = info.useOcdbt;
    this.useZarr3 = info.useZarr3;
    this.customMetadata = JSON.parse(info.customMetadataJson) as unknown;
    this.#entries = info.leaves;
    this.#leaves = Object.freeze(
      info.leaves.map((entry) =>
        Object.freeze({
          path: Object.freeze(entry.keys.map((key, i) => (entry.keyTypes[i] === 1 ? Number(key) : key))),
          param: entry.param,
          valueType: entry.valueType,
          metadata: valueMetadataOf(entry, info.dir),
        }),
      ),
    );
    this.#byParam = new Map(info.leaves.map((entry, i) => [entry.param, i]));
  }

  /** Opens an item directory; reads its metadata files but no array data. */
  static async open(directory: string, opts: OpenCheckpointOptions = {}): Promise<CheckpointReader> {
    const { storageOptions } = parseOpenOptions(opts);
    const item = await callNative(() => native.openItem(directory, storageOptions));
    return new CheckpointReader(item);
  }

  /** Every leaf and empty node, in `_METADATA` order (JAX flatten order). */
  leaves(): readonly LeafInfo[] {
    return this.#leaves;
  }

  /** The leaf at `path` (a path array, or a param name such as `'params.w'`). */
  leaf(path: readonly PathKey[] | string): LeafInfo {
    const param = typeof path === 'string' ? path : path.map(String).join('.');
    const index = this.#byParam.get(param);
    if (index === undefined) {
      throw new KeyNotFoundError(`No leaf ${JSON.stringify(param)} in the checkpoint at ${this.directory}.`);
    }
    return this.#leaves[index] as LeafInfo;
  }

  /** The raw native entry for a leaf (internal). */
  entryOf(param: string): LeafEntry | undefined {
    const index = this.#byParam.get(param);
    return index === undefined ? undefined : this.#entries[index];
  }

  #request(leaf: LeafInfo, opts: ReadArrayOptions): { param: string; region?: number[][]; dtype?: string; shape: number[]; dtype_: DType } {
    const meta = leaf.metadata;
    if (!meta || meta.kind === 'string') {
      throw new InvalidArgumentError(`${leaf.param} is not an array leaf (value type ${leaf.valueType}).`);
    }
    const dtype = opts.dtype ?? meta.dtype;
    let region: number[][] | undefined;
    let shape = [...meta.shape];
    if (opts.slice) {
      if (opts.slice.length > meta.shape.length) {
        throw new InvalidArgumentError(`${leaf.param}: a slice of ${opts.slice.length} dimensions for shape ${JSON.stringify(meta.shape)}`);
      }
      region = meta.shape.map((dim, axis) => {
        const range = opts.slice?.[axis] ?? null;
        if (range === null) return [0, dim];
        const [start, end] = range;
        if (start > end || end > dim) {
          throw new InvalidArgumentError(`${leaf.param}: slice [${start}, ${end}) of axis ${axis} is outside shape ${JSON.stringify(meta.shape)}`);
        }
        return [start, end];
      });
      shape = region.map(([s, e]) => (e as number) - (s as number));
    }
    return { param: leaf.param, ...(region ? { region } : {}), ...(opts.dtype ? { dtype: opts.dtype } : {}), shape, dtype_: dtype };
  }

  /** Reads one array leaf (or a slice of it), reading only the chunks it touches. */
  async readArray(path: readonly PathKey[] | string, opts?: ReadArrayOptions): Promise<NdArray> {
    const [result] = await this.readArrays(
      [{ path, ...(opts?.slice ? { slice: opts.slice } : {}), ...(opts?.dtype ? { dtype: opts.dtype } : {}) }],
      { ...(opts?.concurrentGb === undefined ? {} : { concurrentGb: opts.concurrentGb }), ...transferOf(opts) },
    );
    return result as NdArray;
  }

  /** Reads several array leaves in one native call (in parallel, memory bounded by `concurrentGb`). */
  async readArrays(
    requests: ReadonlyArray<{ path: readonly PathKey[] | string; slice?: SliceSpec; dtype?: DType }>,
    opts: { concurrentGb?: number } & TransferOptions = {},
  ): Promise<NdArray[]> {
    const prepared = requests.map((r) => this.#request(this.leaf(r.path), parseReadOptions({ ...(r.slice ? { slice: r.slice } : {}), ...(r.dtype ? { dtype: r.dtype } : {}) })));
    const buffers = await withTransfer(transferOf(opts), (transfer) =>
      callNative(() =>
        this.#item.read(
          prepared.map(({ param, region, dtype }) => ({ param, region, dtype })),
          { ...(opts.concurrentGb === undefined ? {} : { concurrentBytes: opts.concurrentGb * 2 ** 30 }), ...(transfer !== undefined ? { transfer } : {}) },
        ),
      ),
    );
    return prepared.map((p, i) => array(typedArrayFromBytes(p.dtype_, buffers[i] as Uint8Array), p.shape, p.dtype_));
  }

  /**
   * Reads one array leaf (or a slice) into `target`, a typed array of the result's dtype with
   * exactly the result's number of elements, and returns an {@link NdArray} over it. Do not
   * touch `target` until the promise settles.
   */
  async readArrayInto<T extends AnyTypedArray>(path: readonly PathKey[] | string, target: T, opts?: ReadArrayOptions): Promise<NdArray> {
    const parsed = parseReadOptions(opts);
    const p = this.#request(this.leaf(path), parsed);
    const expected = sizeOf(p.shape) * itemSize(p.dtype_);
    if (!ArrayBuffer.isView(target) || target.byteLength !== expected) {
      throw new InvalidArgumentError(`${p.param}: the target must be a typed array of ${expected} bytes (${p.dtype_} ${JSON.stringify(p.shape)}), got ${target?.byteLength} bytes`);
    }
    await withTransfer(transferOf(parsed), (transfer) =>
      callNative(() =>
        this.#item.readInto(
          { param: p.param, region: p.region, dtype: p.dtype },
          Buffer.from(target.buffer, target.byteOffset, target.byteLength),
          { ...(parsed.concurrentGb === undefined ? {} : { concurrentBytes: parsed.concurrentGb * 2 ** 30 }), ...(transfer !== undefined ? { transfer } : {}) },
        ),
      ),
    );
    return array(target as never, p.shape, p.dtype_);
  }
}
