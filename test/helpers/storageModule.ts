// The storage entry points the storage tests use, and fresh in-memory roots.
import * as ocp from 'orbax-ts';

export const storage = { storageFor: ocp.storageFor, isRemoteLocation: ocp.isRemoteLocation };

let counter = 0;

/** A fresh `memory://` root for one test. */
export function memoryRoot(label: string): string {
  counter += 1;
  return `memory://${label}-${process.pid}-${counter}-${Date.now()}/root`;
}
