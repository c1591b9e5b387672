// Every PyTree/Standard item of the Orbax 0.12.8 fixtures restores exactly to its expected.json.
import test from 'ava';

import * as ocp from 'orbax-ts';

import { assertTree, containsLeafType, type Json, type JsonObject, pytreeItems } from './helpers/fixtures.js';

const items = pytreeItems().filter((item) => !containsLeafType(item.item.tree as Json, 'prng_key'));

test('the fixtures provide PyTree and Standard items to check', (t) => {
  t.true(items.length >= 20, `only ${items.length} items found`);
});

for (const item of items) {
  test(`PyTreeCheckpointer restores ${item.label}`, async (t) => {
    const tree = await new ocp.PyTreeCheckpointer().restore(item.dir);
    assertTree(t, tree, item.item.tree as Json, item.label);
  });

  if (item.handler === 'StandardCheckpointHandler') {
    test(`StandardCheckpointer restores ${item.label}, with and without a target`, async (t) => {
      const checkpointer = new ocp.StandardCheckpointer();
      assertTree(t, await checkpointer.restore(item.dir), item.item.tree as Json, item.label);
      const meta = await checkpointer.metadata(item.dir);
      const target = meta.itemMetadata!.tree;
      assertTree(t, await checkpointer.restore(item.dir, target), item.item.tree as Json, `${item.label} (target)`);
    });
  }

  test(`metadata() of ${item.label} matches without reading arrays`, async (t) => {
    const meta = await new ocp.PyTreeCheckpointer().metadata(item.dir);
    const itemMeta = meta.itemMetadata!;
    t.deepEqual(itemMeta.customMetadata, (item.item.custom_metadata ?? null) as unknown);
    const storage = item.item.storage as JsonObject | undefined;
    if (storage) {
      t.is(itemMeta.useZarr3, storage.use_zarr3 as boolean);
      t.is(itemMeta.useOcdbt, storage.use_ocdbt as boolean);
    }
    assertMetadataTree(t, itemMeta.tree, item.item.tree as Json, item.label);
  });
}

function assertMetadataTree(t: import('ava').ExecutionContext, actual: unknown, expected: Json, where: string): void {
  if (Array.isArray(expected)) {
    t.true(Array.isArray(actual), `${where}: list`);
    expected.forEach((c, i) => assertMetadataTree(t, (actual as unknown[])[i], c, `${where}/${i}`));
    return;
  }
  if (expected === null || typeof expected !== 'object') return;
  if (typeof expected.type !== 'string') {
    for (const [k, c] of Object.entries(expected)) assertMetadataTree(t, (actual as Record<string, unknown>)[k], c, `${where}/${k}`);
    return;
  }
  const leaf = actual as ocp.ValueMetadata | null;
  switch (expected.type) {
    case 'array':
    case 'scalar': {
      if (!leaf || leaf.kind === 'string') return void t.fail(`${where}: expected array metadata`);
      t.is(leaf.kind, expected.type === 'array' ? 'array' : 'scalar', `${where}: kind`);
      t.is(leaf.name, expected.param as string, `${where}: param`);
      t.is<string, string>(leaf.dtype, expected.dtype as string, `${where}: dtype`);
      if (expected.shape) t.deepEqual([...leaf.shape], expected.shape as number[], `${where}: shape`);
      if (expected.chunk_shape) t.deepEqual([...leaf.storage.chunkShape], expected.chunk_shape as number[], `${where}: chunks`);
      t.is(leaf.storage.zarrMetadata.text, expected.zarr_metadata as string, `${where}: zarr metadata`);
      if (leaf.kind === 'array') {
        t.is(leaf.valueType, expected.value_type as string, `${where}: value type`);
        if (expected.write_shape) t.deepEqual(leaf.storage.writeShape, expected.write_shape as number[], `${where}: write shape`);
        if (expected.sharding) t.deepEqual(leaf.sharding, expected.sharding as unknown, `${where}: sharding`);
      }
      return;
    }
    case 'string':
      t.is(leaf?.kind, 'string', `${where}: kind`);
      t.is(leaf?.name, expected.param as string, `${where}: param`);
      return;
    case 'none':
      t.is(actual, null, `${where}: None`);
      return;
    default:
      return;
  }
}
