/**
 * Synchronization of the processes of a multi-process save (Python Orbax uses JAX's
 * distributed key-value store for its barriers). Pluggable: the default
 * {@link StorageCoordinator} coordinates through the checkpoint storage itself, so that workers
 * need nothing but access to the same bucket or file system.
 */

/** One barrier crossing. */
export interface BarrierRequest {
  /** Names the barrier; every process passes the same key, in the same order. */
  readonly key: string;
  readonly processIndex: number;
  readonly processCount: number;
  /** The process that releases the barrier (and commits checkpoints). */
  readonly primaryHost: number;
  /** Give up after this long with a `BarrierTimeoutError` naming the processes missing. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/** Makes processes wait for each other. */
export interface Coordinator {
  /**
   * Resolves once every process called `barrier` with this key; rejects with
   * `BarrierTimeoutError` (listing the processes that did not arrive) after `timeoutMs`.
   */
  barrier(request: BarrierRequest): Promise<void>;
}
