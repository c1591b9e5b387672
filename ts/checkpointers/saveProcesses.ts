/**
 * The processes of one save: who this process is, and the barriers between the protocol's
 * phases (directory created → everyone written → committed). Without `multiprocessingOptions`
 * a save is the single process 0 and its barriers return at once.
 */
import type { SaveProcessContext } from '../handlers/checkpointHandler.js';
import type { Coordinator } from '../multiprocess/coordinator.js';
import type { ResolvedMultiprocessing } from '../multiprocess/multiprocessingOptions.js';
import { StorageCoordinator } from '../multiprocess/storageCoordinator.js';
import type { Storage } from '../storage/storage.js';

/** Where the default coordinator keeps its barrier markers, next to the checkpoints. */
export const COORDINATION_DIR = '.orbax-ts-sync';

/** A save's process context (also what handlers receive as `multiprocessing`). */
export type CheckpointerProcess = SaveProcessContext;

/**
 * Default coordinators, one per coordination directory: a coordinator removes the markers of
 * its previous barrier when it releases the next one, so reusing it across saves keeps at most
 * one barrier's markers on the storage.
 */
const defaultCoordinators = new Map<string, StorageCoordinator>();

function defaultCoordinator(storage: Storage, finalDir: string, prefix: string): Coordinator {
  const dir = storage.join(storage.parent(finalDir), COORDINATION_DIR, prefix);
  const key = `${storage.kind}:${JSON.stringify(storage.options ?? {})}:${dir}`;
  let coordinator = defaultCoordinators.get(key);
  if (coordinator === undefined) {
    coordinator = new StorageCoordinator(storage, dir);
    defaultCoordinators.set(key, coordinator);
  }
  return coordinator;
}

export function processContextFor(storage: Storage, finalDir: string, mp: ResolvedMultiprocessing, signal?: AbortSignal): CheckpointerProcess {
  const { processIndex, processCount, primaryHost, isPrimary } = mp;
  if (processCount <= 1) {
    return { processIndex, processCount, primaryHost: processIndex, isPrimary: true, barrier: async () => undefined };
  }
  const coordinator = mp.coordinator ?? defaultCoordinator(storage, finalDir, mp.barrierSyncKeyPrefix);
  const name = storage.basename(finalDir);
  return {
    processIndex,
    processCount,
    primaryHost,
    isPrimary,
    barrier: (phase: string) =>
      coordinator.barrier({ key: `${name}.${phase}`, processIndex, processCount, primaryHost, timeoutMs: mp.timeoutMs, signal }),
  };
}
