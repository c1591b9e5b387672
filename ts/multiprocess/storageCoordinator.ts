/**
 * Barriers through shared storage (a bucket prefix or a shared directory): the default
 * coordinator, so that processes need no network connection to each other.
 *
 * Crossing barrier `k`: every process writes `<dir>/<k>/arrived.process_<i>` holding a fresh
 * random token; the primary waits until every process's marker is there, then writes
 * `<dir>/<k>/released` listing the tokens it saw and removes the arrivals; the others wait for a
 * `released` that lists their own token. A token is new at every crossing, so a `released` left
 * by an earlier run is never taken for this one. The primary removes a barrier's directory when
 * it releases the next one (by then everyone has passed it), so one directory at most remains.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { AbortError, BarrierTimeoutError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { BarrierRequest, Coordinator } from './coordinator.js';

const RELEASED = 'released';
const TOKEN = /^[0-9a-f]{24}$/;
const arrivedName = (index: number): string => `arrived.process_${index}`;

/** Barrier keys become one path component. */
function keyComponent(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, (c) => `~${c.codePointAt(0)!.toString(16)}`);
}

export interface StorageCoordinatorOptions {
  /** Pause between polls (it grows up to 8× while waiting). Default 25 ms. */
  pollIntervalMs?: number;
}

/** A {@link Coordinator} whose barriers are files (objects) under one shared directory. */
export class StorageCoordinator implements Coordinator {
  private readonly storage: Storage;
  private readonly directory: string;
  private readonly pollIntervalMs: number;
  private lastReleased: string | undefined;

  constructor(storage: Storage, directory: string, opts: StorageCoordinatorOptions = {}) {
    this.storage = storage;
    this.directory = storage.resolve(directory);
    this.pollIntervalMs = opts.pollIntervalMs ?? 25;
  }

  async barrier(request: BarrierRequest): Promise<void> {
    const { processIndex, processCount, primaryHost, timeoutMs, signal } = request;
    if (processCount <= 1) return;
    const dir = this.storage.join(this.directory, keyComponent(request.key));
    const token = randomBytes(12).toString('hex');
    await this.storage.write(this.storage.join(dir, arrivedName(processIndex)), token);
    const deadline = Date.now() + timeoutMs;
    let pause = this.pollIntervalMs;
    const wait = async (): Promise<void> => {
      if (signal?.aborted) throw new AbortError(`Waiting at barrier ${request.key} was aborted.`);
      if (Date.now() >= deadline) {
        const missing = await this.missing(dir, processCount);
        if (missing.length === 0) {
          throw new BarrierTimeoutError(
            `Every process reached barrier ${JSON.stringify(request.key)}, but the primary (process ${primaryHost}) did not release it within ${timeoutMs / 1000} s (process ${processIndex} waited).`,
            [primaryHost],
          );
        }
        throw new BarrierTimeoutError(
          `Process${missing.length > 1 ? 'es' : ''} ${missing.join(', ')} of ${processCount} did not reach barrier ${JSON.stringify(request.key)} within ${timeoutMs / 1000} s (process ${processIndex} waited).`,
          missing,
        );
      }
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())), undefined, signal ? { signal } : {}).catch(() => undefined);
      pause = Math.min(pause * 2, this.pollIntervalMs * 8);
    };
    if (processIndex === primaryHost) {
      let tokens: string[] | undefined;
      while ((tokens = await this.arrivedTokens(dir, processCount)) === undefined) await wait();
      await this.storage.write(this.storage.join(dir, RELEASED), JSON.stringify(tokens));
      await Promise.all(Array.from({ length: processCount }, (_, i) => this.storage.remove(this.storage.join(dir, arrivedName(i)))));
      if (this.lastReleased !== undefined && this.lastReleased !== dir) await this.storage.remove(this.lastReleased);
      this.lastReleased = dir;
      return;
    }
    while (!(await this.releasedFor(dir, token))) await wait();
  }

  /** Every process's arrival token, or undefined while some are missing. */
  private async arrivedTokens(dir: string, count: number): Promise<string[] | undefined> {
    const names = new Set((await this.storage.list(dir)).map((e) => e.name));
    for (let i = 0; i < count; i += 1) if (!names.has(arrivedName(i))) return undefined;
    const read = await Promise.all(Array.from({ length: count }, (_, i) => this.storage.read(this.storage.join(dir, arrivedName(i)))));
    const tokens = read.map((t) => (t === undefined ? '' : Buffer.from(t).toString('utf8')));
    // A marker caught while being written (storages without atomic writes) is not there yet.
    return tokens.every((t) => TOKEN.test(t)) ? tokens : undefined;
  }

  private async releasedFor(dir: string, token: string): Promise<boolean> {
    const released = await this.storage.read(this.storage.join(dir, RELEASED));
    if (released === undefined) return false;
    try {
      return (JSON.parse(Buffer.from(released).toString('utf8')) as unknown[]).includes(token);
    } catch {
      return false;
    }
  }

  /** Processes without an arrival marker. */
  private async missing(dir: string, count: number): Promise<number[]> {
    const names = new Set((await this.storage.list(dir).catch(() => [])).map((e) => e.name));
    return Array.from({ length: count }, (_, i) => i).filter((i) => !names.has(arrivedName(i)));
  }
}
