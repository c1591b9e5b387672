// The global tree the multi-process tests save, and each process's share of it.
import * as ocp from 'orbax-ts';

export interface WorkerConfig {
  directory: string;
  processIndex: number;
  processCount: number;
  runId: string;
  step: number;
  storageOptions?: Record<string, string>;
  barrierTimeoutSecs: number;
  /** This process SIGKILLs itself before saving. */
  dieBeforeSave?: number;
  /** This process SIGKILLs itself once `save()` returned, while its write runs in the background. */
  dieDuringSave?: number;
  useManager?: boolean;
  readBack?: boolean;
}

/** The whole tree as one process would hold it. */
export function globalTree(step: number) {
  return {
    // Rows split across the processes.
    w: ocp.array(Float32Array.from({ length: 8 * 6 }, (_, i) => Math.floor(i / 6) * 10 + (i % 6) + step / 4), [8, 6], 'float32'),
    // Tiled 2 × 2.
    grid: ocp.array(Int32Array.from({ length: 4 * 4 }, (_, i) => Math.floor(i / 4) * 100 + (i % 4) + step), [4, 4], 'int32'),
    // Replicated: every process passes it, the primary writes it.
    bias: ocp.array(Float32Array.from({ length: 6 }, (_, i) => i / 2 - step), [6], 'float32'),
    step: BigInt(step),
  };
}

function block<D extends 'float32' | 'int32'>(a: ocp.NdArray<D>, offset: number[], shape: number[]): ocp.ShardedArray<D> {
  const cols = a.shape[1]!;
  const source = a.data as Float32Array | Int32Array;
  const out = a.dtype === 'float32' ? new Float32Array(shape[0]! * shape[1]!) : new Int32Array(shape[0]! * shape[1]!);
  for (let r = 0; r < shape[0]!; r++) for (let c = 0; c < shape[1]!; c++) out[r * shape[1]! + c] = source[(offset[0]! + r) * cols + offset[1]! + c]!;
  return ocp.shardedArray(ocp.array(out as ocp.TypedArrayOf[D], shape, a.dtype), { globalShape: [...a.shape], offset });
}

/** What process `index` of `count` (4) saves: its blocks of `w` and `grid`, and the replicated rest. */
export function localTree(index: number, count: number, step: number) {
  const g = globalTree(step);
  const rows = 8 / count;
  return {
    w: block(g.w, [index * rows, 0], [rows, 6]),
    grid: block(g.grid, [Math.floor(index / 2) * 2, (index % 2) * 2], [2, 2]),
    bias: g.bias,
    step: g.step,
  };
}
