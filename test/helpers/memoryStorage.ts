// A Storage held in a Map, for testing code written against the Storage interface in isolation
// (keys are '/'-joined locations under 'mem:/').
import type { Storage, StorageEntry } from 'orbax-ts';

export class MapStorage implements Storage {
  readonly kind = 'object' as const;
  readonly hasAtomicRename = false;
  readonly options = undefined;
  readonly files = new Map<string, Uint8Array>();
  /** Operations performed, for assertions. */
  readonly log: string[] = [];

  resolve(location: string): string {
    return location.replace(/\/+$/, '');
  }
  join(location: string, ...parts: string[]): string {
    return [this.resolve(location), ...parts].join('/');
  }
  parent(location: string): string {
    return location.slice(0, location.lastIndexOf('/'));
  }
  basename(location: string): string {
    return location.slice(location.lastIndexOf('/') + 1);
  }
  async exists(location: string): Promise<boolean> {
    return (await this.isFile(location)) || (await this.isDirectory(location));
  }
  async isDirectory(location: string): Promise<boolean> {
    const prefix = `${this.resolve(location)}/`;
    return [...this.files.keys()].some((k) => k.startsWith(prefix));
  }
  async isFile(location: string): Promise<boolean> {
    return this.files.has(this.resolve(location));
  }
  async list(location: string): Promise<StorageEntry[]> {
    const prefix = `${this.resolve(location)}/`;
    const entries = new Map<string, boolean>();
    for (const key of this.files.keys()) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      entries.set(slash < 0 ? rest : rest.slice(0, slash), slash >= 0 || entries.get(rest) === true);
    }
    return [...entries].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, isDirectory]) => ({ name, isDirectory }));
  }
  async modifiedMs(location: string): Promise<number | undefined> {
    return (await this.exists(location)) ? 0 : undefined;
  }
  async read(location: string, range?: { start: number; end: number }): Promise<Uint8Array | undefined> {
    const bytes = this.files.get(this.resolve(location));
    return range && bytes ? bytes.subarray(range.start, range.end) : bytes;
  }
  async write(location: string, data: Uint8Array | string): Promise<void> {
    this.log.push(`write ${location}`);
    this.files.set(this.resolve(location), typeof data === 'string' ? Buffer.from(data) : data);
  }
  async writeIfAbsent(location: string, data: Uint8Array | string): Promise<boolean> {
    if (this.files.has(this.resolve(location))) return false;
    await this.write(location, data);
    return true;
  }
  async makeDirectory(): Promise<void> {}
  async remove(location: string): Promise<void> {
    this.log.push(`remove ${location}`);
    const key = this.resolve(location);
    for (const k of [...this.files.keys()]) if (k === key || k.startsWith(`${key}/`)) this.files.delete(k);
  }
  async copy(source: string, destination: string): Promise<void> {
    const from = this.resolve(source);
    for (const [k, v] of [...this.files]) {
      if (k === from) this.files.set(this.resolve(destination), v);
      else if (k.startsWith(`${from}/`)) this.files.set(this.resolve(destination) + k.slice(from.length), v);
    }
  }
}
