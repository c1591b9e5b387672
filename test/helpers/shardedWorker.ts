// One worker process of a multi-process save (spawned by test/multiprocess.test.ts): builds its
// blocks of the shared global tree and saves them with multiprocessingOptions. Reports one JSON
// line on stdout: {"ok": true} or {"error": {...}}.
import * as ocp from 'orbax-ts';

import { globalTree, localTree, type WorkerConfig } from './shardedTree.js';

const config = JSON.parse(process.argv[2]!) as WorkerConfig;

async function main(): Promise<void> {
  const tree = localTree(config.processIndex, config.processCount, config.step);
  if (config.dieBeforeSave === config.processIndex) process.kill(process.pid, 'SIGKILL');
  const multiprocessingOptions = {
    processIndex: config.processIndex,
    processCount: config.processCount,
    barrierSyncKeyPrefix: config.runId,
    barrierTimeoutSecs: config.barrierTimeoutSecs,
  };
  const storage = config.storageOptions ? { storageOptions: config.storageOptions } : {};
  if (config.useManager) {
    const manager = await ocp.CheckpointManager.open(config.directory, { options: { multiprocessingOptions }, ...storage });
    await manager.save(config.step, new ocp.args.StandardSave(tree));
    if (config.dieDuringSave === config.processIndex) process.kill(process.pid, 'SIGKILL');
    await manager.waitUntilFinished();
    await manager.close();
  } else {
    const checkpointer = new ocp.StandardCheckpointer({ multiprocessingOptions, ...storage });
    await checkpointer.save(config.directory, tree);
    if (config.dieDuringSave === config.processIndex) process.kill(process.pid, 'SIGKILL');
    await checkpointer.waitUntilFinished();
    await checkpointer.close();
  }
  // A process may read back only its own block.
  if (config.readBack) {
    const restored = (await new ocp.StandardCheckpointer(storage).restore(config.useManager ? `${config.directory}/${config.step}/default` : config.directory)) as ReturnType<typeof globalTree>;
    const expected = globalTree(config.step);
    if (Buffer.compare(Buffer.from(restored.w.data.buffer), Buffer.from(expected.w.data.buffer)) !== 0) throw new Error('read back different w');
  }
}

main().then(
  () => {
    process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
  },
  (error: unknown) => {
    const e = error as ocp.OrbaxError & { missingProcesses?: number[] };
    process.stdout.write(`${JSON.stringify({ error: { name: e.name, code: e.code, message: e.message, missingProcesses: e.missingProcesses ?? null } })}\n`);
    process.exitCode = 1;
  },
);
