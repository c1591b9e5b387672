/** Reading `_CHECKPOINT_METADATA` (Orbax's tolerant rules live in the native core). */
import { callNative } from '../errors.js';
import { native } from '../native.js';
import type { StorageOptions } from '../storage/storage.js';
import type { StepMetadata } from './types.js';

/** Reads the step metadata of `directory`, with `itemMetadata` filled in by the caller. */
export async function readStepMetadata<I>(directory: string, itemMetadata: I | null, storageOptions?: StorageOptions): Promise<StepMetadata<I>> {
  const info = await callNative(() => native.readStepMetadata(directory, storageOptions ?? null));
  let itemHandlers: StepMetadata['itemHandlers'] = info.itemHandler ?? null;
  if (info.itemHandlerNames && info.itemHandlerTypes) {
    const types = info.itemHandlerTypes;
    itemHandlers = Object.fromEntries(info.itemHandlerNames.map((name, i) => [name, types[i] ?? null]));
  }
  return {
    itemHandlers,
    itemMetadata,
    metrics: JSON.parse(info.metricsJson) as Record<string, unknown>,
    performanceMetrics: JSON.parse(info.performanceMetricsJson) as Record<string, number>,
    initTimestampNsecs: info.initTimestampNsecs ?? null,
    commitTimestampNsecs: info.commitTimestampNsecs ?? null,
    customMetadata: JSON.parse(info.customMetadataJson) as Record<string, unknown>,
  };
}
