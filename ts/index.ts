/**
 * orbax-ts: Orbax-compatible checkpointing for Node.js.
 *
 * ```ts
 * import * as ocp from 'orbax-ts';
 * const tree = await new ocp.PyTreeCheckpointer().restore('/path/to/checkpoint');
 * ```
 */
import './handlers/builtins.js';

import { native } from './native.js';

export {
  AbortError,
  AlreadyExistsError,
  BarrierTimeoutError,
  CorruptCheckpointError,
  InvalidArgumentError,
  KeyNotFoundError,
  NoEntryError,
  NotFoundError,
  OrbaxError,
  StepAlreadyExistsError,
  UnsupportedFormatError,
  UnsupportedTypeError,
} from './errors.js';
export { DTYPES, type DType, type TypedArrayOf, type AnyTypedArray, itemSize } from './tree/dtypes.js';
export { array, isNdArray, type NdArray, ShapeDtypeStruct, toShapeDtypeStruct } from './tree/ndarray.js';
export { astype, bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from './tree/convert.js';
export { PLACEHOLDER, type PathKey, type PyTree, type Scalar } from './tree/pytree.js';
export type {
  ArrayMetadata,
  ScalarMetadata,
  ShardingMetadata,
  StepMetadata,
  StorageMetadata,
  StringMetadata,
  TreeMetadata,
  ValueMetadata,
} from './metadata/types.js';
export { CheckpointReader, type LeafInfo, type OpenCheckpointOptions, type ReadArrayOptions, type SliceSpec } from './restore/checkpointReader.js';
export { PyTreeCheckpointer, type PyTreeCheckpointerOptions, type PyTreeSaveOptions } from './checkpointers/pyTreeCheckpointer.js';
export { Checkpointer, type CheckpointerSaveOptions } from './checkpointers/checkpointer.js';
export { AsyncCheckpointer, type AsyncOptions } from './checkpointers/asyncCheckpointer.js';
export type { SaveArgs } from './handlers/pyTreeSave.js';
export {
  RestoreArgs,
  ArrayRestoreArgs,
  type RestoreType,
  type RestoreArgsOptions,
  type ArrayRestoreArgsOptions,
} from './restore/restoreArgs.js';
export * as args from './args/index.js';
export * as handlers from './handlers/index.js';
export {
  CheckpointHandlerRegistry,
  DefaultCheckpointHandlerRegistry,
  StandardCheckpointHandler,
  PyTreeCheckpointHandler,
  JsonCheckpointHandler,
  ArrayCheckpointHandler,
  ProtoCheckpointHandler,
  JaxRandomKeyCheckpointHandler,
  NumpyRandomKeyCheckpointHandler,
  CompositeCheckpointHandler,
  type CheckpointHandler,
  type AsyncCheckpointHandler,
} from './handlers/index.js';
export * as checkpointUtils from './checkpointUtils/index.js';
export * as path from './path/index.js';
export * as options from './options/index.js';
export * as checkpointManagers from './checkpointManagers/index.js';
export {
  CheckpointManager,
  DEFAULT_ITEM_NAME,
  type CheckpointManagerInit,
  type ManagerSaveOptions,
  type RootMetadata,
} from './manager/checkpointManager.js';
export type { CheckpointManagerOptions } from './checkpointManagers/managerOptions.js';
export * as adapters from './adapters/index.js';
export * as step from './path/step.js';
export { scalar, type TypedScalar } from './tree/flatten.js';
export { shardedArray, ShardedArray, type ShardedArrayOptions } from './tree/shardedArray.js';
export type { BarrierRequest, Coordinator } from './multiprocess/coordinator.js';
export { StorageCoordinator, type StorageCoordinatorOptions } from './multiprocess/storageCoordinator.js';
export type { ByteRange, Storage, StorageEntry, StorageOptions } from './storage/storage.js';
export { isRemoteLocation, storageFor } from './storage/index.js';
export { jsonFloat, type JsonFloat } from './tree/pyValue.js';
export type { TransferOptions, TransferProgress } from './transfer.js';
export {
  StandardCheckpointer,
  type StandardCheckpointerOptions,
  type StandardRestoreOptions,
  type StandardSaveOptions,
} from './checkpointers/standardCheckpointer.js';

/**
 * Opens an item for lazy browsing — a local directory, or an object-store URL (`s3://bucket/prefix`,
 * `gs://…`, `az://…`) committed by its `commit_success.txt` — leaf metadata first, array data on demand.
 */
export async function openCheckpoint(
  location: string,
  opts: import('./restore/checkpointReader.js').OpenCheckpointOptions = {},
): Promise<import('./restore/checkpointReader.js').CheckpointReader> {
  const { CheckpointReader, isUrl } = await import('./restore/checkpointReader.js');
  if (typeof location === 'string' && isUrl(location)) return CheckpointReader.open(location, opts);
  const { finalizedCheckpointPath } = await import('./checkpointers/checkpointPath.js');
  return CheckpointReader.open(await finalizedCheckpointPath(location), opts);
}

/** Version of the native core that was loaded. */
export function nativeVersion(): string {
  return native.nativeVersion();
}
