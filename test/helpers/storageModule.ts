// The storage module, loaded from the built library (dist/) until the lead re-exports it from
// the package entry point.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type StorageModule = typeof import('../../dist/storage/index.js');

export const storage = (await import(pathToFileURL(join(process.cwd(), 'dist', 'storage', 'index.js')).href)) as StorageModule;

let counter = 0;

/** A fresh `memory://` root for one test. */
export function memoryRoot(label: string): string {
  counter += 1;
  return `memory://${label}-${process.pid}-${counter}-${Date.now()}/root`;
}
