// Handlers, args and registries (issue 5): every handler reads its Orbax fixture to exactly its
// expected.json, round-trips in TS, and writes what real Orbax restores with the matching handler.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import test, { type ExecutionContext } from 'ava';

import * as ocp from 'orbax-ts';

import { assertTree, type Json, type JsonObject, loadExpected, orbaxFixturesDir } from './helpers/fixtures.js';
import { describeTree, verifyWithOrbax } from './helpers/interop.js';

const { args } = ocp;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orbax-ts-handlers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function fixture(name: string): string {
  return join(orbaxFixturesDir, name);
}

/** expected.json with PRNG-key leaves replaced by their key data (orbax-ts restores host arrays). */
function withKeyData(node: Json): Json {
  if (Array.isArray(node)) return node.map(withKeyData);
  if (node !== null && typeof node === 'object') {
    if (node.type === 'prng_key') return node.key_data as Json;
    if (typeof node.type === 'string') return node;
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withKeyData(v)]));
  }
  return node;
}

const TREE = {
  params: { w: ocp.array(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]), b: ocp.array(Float64Array.from([0.5, -0.25])) },
  step: 7n,
  lr: 0.001,
};

// ---------------------------------------------------------------------------------------------
// Fixtures written by Python Orbax.

test('JsonCheckpointHandler reads the json_handler fixture, and writes back the same bytes', async (t) => {
  const expected = loadExpected('json_handler');
  const checkpointer = new ocp.Checkpointer(new ocp.JsonCheckpointHandler());
  const value = await checkpointer.restore(fixture('json_handler'));
  t.deepEqual(value, ((expected.items as JsonObject).item as JsonObject).value as unknown);
  t.true(Object.is((value as { neg_zero: number }).neg_zero, -0));

  const dir = join(await tempDir(t), 'json');
  await checkpointer.save(dir, new args.JsonSave(value));
  t.is(await readFile(join(dir, 'metadata'), 'utf8'), await readFile(join(fixture('json_handler'), 'metadata'), 'utf8'));
  const meta = await checkpointer.metadata(dir);
  t.is(meta.itemHandlers, ocp.handlers.TYPESTRS.json);
  t.is(meta.itemMetadata, null);
});

test('Python JSON: NaN and Infinity, ints vs floats, big ints and non-ASCII round-trip with Python bytes', async (t) => {
  const dir = join(await tempDir(t), 'json');
  const checkpointer = new ocp.Checkpointer(new ocp.JsonCheckpointHandler({ filename: 'cfg.json' }));
  const value = { a: Number.NaN, b: Infinity, c: -Infinity, one: 1, oneFloat: ocp.jsonFloat(1), big: 2n ** 70n, s: 'é\u2713\ud83d\ude00', l: [1e-5, ocp.jsonFloat(1e16), 1e16, 0.1, -0] };
  await checkpointer.save(dir, new args.JsonSave(value));
  t.is(
    await readFile(join(dir, 'cfg.json'), 'utf8'),
    '{"a": NaN, "b": Infinity, "c": -Infinity, "one": 1, "oneFloat": 1.0, "big": 1180591620717411303424, "s": "\\u00e9\\u2713\\ud83d\\ude00", "l": [1e-05, 1e+16, 10000000000000000, 0.1, -0.0]}',
  );
  const back = (await checkpointer.restore(dir)) as Record<string, unknown>;
  t.true(Number.isNaN(back.a));
  t.is(back.b, Infinity);
  t.is(back.big, 2n ** 70n);
  t.is(back.oneFloat, 1);
  t.is(back.s, 'é\u2713\ud83d\ude00');
  const missing = await t.throwsAsync(new ocp.JsonCheckpointHandler().restore(dir), { instanceOf: ocp.NotFoundError });
  t.is(missing.message, `File ${join(dir, 'metadata')} not found.`);
});

test('CompositeCheckpointHandler reads the composite fixture whole, item by item, and refuses unknown items', async (t) => {
  const expected = loadExpected('composite');
  const items = expected.items as JsonObject;
  const checkpointer = new ocp.Checkpointer(new ocp.CompositeCheckpointHandler());
  const all = await checkpointer.restore(fixture('composite'));
  t.deepEqual(all.keys(), ['metadata', 'state']);
  assertTree(t, all.get('state'), (items.state as JsonObject).tree as Json, 'composite/state');
  t.deepEqual(all.get('metadata'), (items.metadata as JsonObject).value as unknown);

  const one = await checkpointer.restore(fixture('composite'), new args.Composite({ metadata: new args.JsonRestore() }));
  t.deepEqual(one.keys(), ['metadata']);
  t.deepEqual((one as ocp.args.Composite<{ metadata: unknown }>).metadata, (items.metadata as JsonObject).value as unknown);

  const missing = await t.throwsAsync(checkpointer.restore(fixture('composite'), new args.Composite({ nope: new args.JsonRestore() })), {
    instanceOf: ocp.KeyNotFoundError,
  });
  t.is(missing.message, `Item "nope" was not found in the checkpoint. Available items: ['metadata', 'state']`);
  t.throws(() => one.get('state'), { instanceOf: ocp.KeyNotFoundError, message: "Unknown key: state. Available keys: ['metadata']" });

  const meta = await checkpointer.metadata(fixture('composite'));
  t.deepEqual(meta.customMetadata, (expected.checkpoint_metadata as JsonObject).custom_metadata as unknown);
  t.deepEqual(meta.itemHandlers, (expected.checkpoint_metadata as JsonObject).item_handlers as unknown);
  const itemMeta = meta.itemMetadata as ocp.args.Composite;
  t.is(itemMeta.get('metadata'), null);
  t.deepEqual(Object.keys(((itemMeta.get('state') as ocp.TreeMetadata).tree as Record<string, unknown>)).sort(), Object.keys((items.state as JsonObject).tree as JsonObject).sort());
});

test('ArrayCheckpointHandler and ProtoCheckpointHandler read their fixtures', async (t) => {
  const arrayExpected = ((loadExpected('array_handler').items as JsonObject).item as JsonObject).tree as Json;
  const arr = await new ocp.Checkpointer(new ocp.ArrayCheckpointHandler()).restore(fixture('array_handler'));
  assertTree(t, arr, arrayExpected, 'array_handler');
  const cast = await new ocp.Checkpointer(new ocp.ArrayCheckpointHandler()).restore(
    fixture('array_handler'),
    new args.ArrayRestore({ restoreArgs: new ocp.RestoreArgs({ dtype: 'float64' }) }),
  );
  t.is((cast as ocp.NdArray).dtype, 'float64');

  const text = await readFile(join(fixture('proto'), 'proto.pbtxt'), 'utf8');
  const proto = new ocp.Checkpointer(new ocp.ProtoCheckpointHandler());
  t.is(await proto.restore(fixture('proto')), text);
  t.deepEqual(await proto.restore(fixture('proto'), new args.ProtoRestore((s) => s.split('\n').length)), text.split('\n').length);
});

test('random-key handlers read the random_keys fixture (typed and raw JAX keys, legacy and dict numpy states)', async (t) => {
  const expected = loadExpected('random_keys');
  const items = expected.items as JsonObject;
  const result = await new ocp.Checkpointer(new ocp.CompositeCheckpointHandler()).restore(fixture('random_keys'));
  t.deepEqual(result.keys(), ['jax_legacy', 'jax_typed', 'np_legacy', 'np_philox', 'tree_with_key']);
  const legacyKey = result.get('jax_legacy') as ocp.args.JaxRandomKey;
  t.false(legacyKey.typed);
  assertTree(t, legacyKey.data, (items.jax_legacy as JsonObject).tree as Json, 'jax_legacy');
  const typedKey = result.get('jax_typed') as ocp.args.JaxRandomKey;
  t.true(typedKey.typed);
  assertTree(t, typedKey.data, ((items.jax_typed as JsonObject).tree as JsonObject).key_data as Json, 'jax_typed');
  assertTree(t, result.get('np_legacy'), (items.np_legacy as JsonObject).tree as Json, 'np_legacy');
  assertTree(t, result.get('np_philox'), (items.np_philox as JsonObject).tree as Json, 'np_philox');
  assertTree(t, result.get('tree_with_key'), withKeyData((items.tree_with_key as JsonObject).tree as Json), 'tree_with_key');
});

// ---------------------------------------------------------------------------------------------
// Writing, verified by Python Orbax.

test('the seed composite example: state + JsonSave, laid out and committed as Orbax does, restored by Orbax', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'ckpt');
  const checkpointer = new ocp.Checkpointer(new ocp.CompositeCheckpointHandler());
  const metadata = { lr: 0.001, tags: ['a', 'b'], u: 'é', version: 2 };
  await checkpointer.save(dir, new args.Composite({ state: new args.StandardSave(TREE), metadata: new args.JsonSave(metadata) }), {
    customMetadata: { run: 'r1', n: 1 },
  });
  t.deepEqual((await readdir(dir)).sort(), ['_CHECKPOINT_METADATA', 'commit_success.txt', 'metadata', 'state']);
  t.is(await readFile(join(dir, 'state', 'commit_success.txt'), 'utf8'), `Checkpoint commit was successful to ${dir}.orbax-checkpoint-tmp/state`);
  t.is(await readFile(join(dir, 'metadata', 'metadata'), 'utf8'), '{"lr": 0.001, "tags": ["a", "b"], "u": "\\u00e9", "version": 2}');
  const stepMeta = JSON.parse(await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8')) as JsonObject;
  t.deepEqual(Object.keys(stepMeta.item_handlers as JsonObject), ['metadata', 'state']);
  t.deepEqual(stepMeta.custom_metadata, { run: 'r1', n: 1 });

  const whole = await checkpointer.restore(dir);
  t.deepEqual(describeTree(whole.get('state')), describeTree(TREE));
  t.deepEqual(whole.get('metadata'), metadata);
  const state = await checkpointer.restore(dir, new args.Composite({ state: new args.StandardRestore() }));
  t.deepEqual(describeTree(state.get('state')), describeTree(TREE));

  await verifyWithOrbax(t, dir, {
    kind: 'composite',
    restore: { layout: 'composite', items: { state: 'StandardCheckpointHandler', metadata: 'JsonCheckpointHandler' } },
    items: {
      state: { handler: 'StandardCheckpointHandler', dir: 'state', tree: describeTree(TREE) },
      metadata: { handler: 'JsonCheckpointHandler', dir: 'metadata', value: metadata },
    },
    checkpoint_metadata: {
      item_handlers: { metadata: ocp.handlers.TYPESTRS.json, state: ocp.handlers.TYPESTRS.standard },
      custom_metadata: { run: 'r1', n: 1 },
      has_init_timestamp: true,
      has_commit_timestamp: true,
    },
  });
});

test('Json, Array and Proto handlers write what Orbax restores with the matching handler', async (t) => {
  const root = await tempDir(t);
  const json = { name: 'config', steps: 100, lr: 0.04, nested: [{ a: 1 }, [2, [3]]], none: null, neg: -0.5, tiny: 1e-30 };
  await new ocp.Checkpointer(new ocp.JsonCheckpointHandler()).save(join(root, 'json'), new args.JsonSave(json));
  await verifyWithOrbax(t, join(root, 'json'), {
    kind: 'json',
    restore: { layout: 'single', handler: 'JsonCheckpointHandler' },
    items: { item: { handler: 'JsonCheckpointHandler', dir: '.', value: json } },
  });

  const matrix = ocp.array(Int16Array.from({ length: 24 }, (_, i) => i * 3 - 30), [6, 4]);
  const arrays = new ocp.Checkpointer(new ocp.ArrayCheckpointHandler());
  await arrays.save(join(root, 'array'), new args.ArraySave(matrix));
  t.deepEqual(describeTree(await arrays.restore(join(root, 'array'))), describeTree(matrix));
  t.deepEqual((await readdir(join(root, 'array'))).sort(), ['_CHECKPOINT_METADATA', '_METADATA', 'checkpoint', 'commit_success.txt']);
  await verifyWithOrbax(t, join(root, 'array'), {
    kind: 'array',
    restore: { layout: 'single', handler: 'ArrayCheckpointHandler' },
    items: { item: { handler: 'ArrayCheckpointHandler', dir: '.', tree: describeTree(matrix), kvstore_keys: ['checkpoint/.zarray', 'checkpoint/0.0'] } },
  });
  await arrays.save(join(root, 'scalar'), new args.ArraySave(42n));
  t.is(await arrays.restore(join(root, 'scalar')), 42n);
  t.throws(() => new args.ArraySave('text' as never), { instanceOf: ocp.UnsupportedTypeError, message: 'Unsupported type: string' });

  const text = await readFile(join(fixture('proto'), 'proto.pbtxt'), 'utf8');
  await new ocp.Checkpointer(new ocp.ProtoCheckpointHandler()).save(join(root, 'proto'), new args.ProtoSave({ toTextFormat: () => text }));
  t.is(await readFile(join(root, 'proto', 'proto.pbtxt'), 'utf8'), text);
  const protoItem = (loadExpected('proto').items as JsonObject).item as JsonObject;
  await verifyWithOrbax(t, join(root, 'proto'), {
    kind: 'proto',
    restore: { layout: 'single', handler: 'ProtoCheckpointHandler' },
    items: { item: { handler: 'ProtoCheckpointHandler', dir: '.', message_type: protoItem.message_type as Json, python_class: protoItem.python_class as Json, text: protoItem.text as Json } },
  });
});

test('random-key handlers write what Orbax restores (typed and raw JAX keys, legacy and dict numpy states)', async (t) => {
  const root = await tempDir(t);
  const keyData = ocp.array(Uint32Array.from([0, 42]), [2], 'uint32');
  const mt = ocp.array(Uint32Array.from({ length: 624 }, (_, i) => (i * 2654435761) >>> 0), [624], 'uint32');
  const legacyState: ocp.args.NumpyLegacyState = ['MT19937', mt, 624n, 0n, 0];
  const dictState = { bit_generator: 'PCG64', state: { state: ocp.array(BigUint64Array.from([1n, 2n])), inc: ocp.array(BigUint64Array.from([3n, 5n])) }, has_uint32: 0n, uinteger: 0n };
  const checkpointer = new ocp.Checkpointer(new ocp.CompositeCheckpointHandler());
  await checkpointer.save(
    join(root, 'keys'),
    new args.Composite({
      jax_typed: new args.JaxRandomKeySave({ data: keyData, typed: true }),
      jax_raw: new args.JaxRandomKeySave(keyData),
      np_legacy: new args.NumpyRandomKeySave(legacyState),
      np_dict: new args.NumpyRandomKeySave(dictState),
    }),
  );
  t.deepEqual((await readdir(join(root, 'keys', 'jax_typed'))).sort(), ['commit_success.txt', 'jax_random_key', 'jax_random_key_metadata']);
  t.is(await readFile(join(root, 'keys', 'jax_typed', 'jax_random_key_metadata', 'metadata'), 'utf8'), '{"typed": true}');
  t.is(
    await readFile(join(root, 'keys', 'jax_typed', 'jax_random_key', 'commit_success.txt'), 'utf8'),
    `Checkpoint commit was successful to ${join(root, 'keys')}.orbax-checkpoint-tmp/jax_typed.orbax-checkpoint-tmp/jax_random_key`,
  );
  const back = await checkpointer.restore(join(root, 'keys'));
  t.deepEqual(describeTree((back.get('jax_typed') as ocp.args.JaxRandomKey).data), describeTree(keyData));
  t.true((back.get('jax_typed') as ocp.args.JaxRandomKey).typed);
  t.false((back.get('jax_raw') as ocp.args.JaxRandomKey).typed);
  t.deepEqual(describeTree(back.get('np_legacy')), describeTree(legacyState));
  t.deepEqual(describeTree(back.get('np_dict')), describeTree(dictState));

  const keyLeaf = describeTree(keyData) as JsonObject;
  await verifyWithOrbax(t, join(root, 'keys'), {
    kind: 'random_key',
    restore: {
      layout: 'composite',
      items: { jax_typed: 'JaxRandomKeyCheckpointHandler', jax_raw: 'JaxRandomKeyCheckpointHandler', np_legacy: 'NumpyRandomKeyCheckpointHandler', np_dict: 'NumpyRandomKeyCheckpointHandler' },
    },
    items: {
      jax_typed: { handler: 'JaxRandomKeyCheckpointHandler', dir: 'jax_typed', typed: true, tree: { type: 'prng_key', impl: 'threefry2x32', key_data: keyLeaf } },
      jax_raw: { handler: 'JaxRandomKeyCheckpointHandler', dir: 'jax_raw', typed: false, tree: keyLeaf },
      np_legacy: { handler: 'NumpyRandomKeyCheckpointHandler', dir: 'np_legacy', legacy: true, tree: describeTree(legacyState), tuple_paths: [[]] },
      np_dict: { handler: 'NumpyRandomKeyCheckpointHandler', dir: 'np_dict', legacy: false, tree: describeTree(dictState) },
    },
  }, { ignoreLayout: true });
});

// ---------------------------------------------------------------------------------------------
// Registries, args checks and errors.

test('DefaultCheckpointHandlerRegistry: add/get/has, paired args, duplicates and misses are typed errors', (t) => {
  const registry = new ocp.DefaultCheckpointHandlerRegistry();
  registry.add('state', args.StandardSave);
  t.true(registry.get('state', args.StandardRestore) instanceof ocp.StandardCheckpointHandler, 'the restore args of the same handler are registered too');
  registry.add(null, args.JsonSave, ocp.JsonCheckpointHandler);
  t.true(registry.has('anything', new args.JsonSave({})), 'a null item serves every item');
  t.false(registry.has('state', args.JsonSave) && registry.get('state', args.JsonSave) instanceof ocp.StandardCheckpointHandler);
  const dup = t.throws(() => registry.add('state', args.StandardSave), { instanceOf: ocp.AlreadyExistsError });
  t.is(dup.message, 'Entry for item="state" and args_type=StandardSave already exists in the registry.');
  const miss = t.throws(() => registry.get('state', args.ProtoSave), { instanceOf: ocp.NoEntryError });
  t.is(miss.message, 'No entry for item="state" and args_type=ProtoSave in the registry.');
  t.true(miss instanceof ocp.KeyNotFoundError);
  class UnregisteredArgs extends args.CheckpointArgs {}
  t.throws(() => registry.add('x', UnregisteredArgs), { instanceOf: ocp.InvalidArgumentError, message: 'No handler is registered for UnregisteredArgs; pass a handler to add().' });
  t.throws(() => args.registerWithHandler(UnregisteredArgs, ocp.JsonCheckpointHandler, {}), { instanceOf: ocp.InvalidArgumentError });
  t.is(args.getRegisteredHandlerClass(new args.PyTreeSave({})), ocp.PyTreeCheckpointHandler);
  t.deepEqual(args.getRegisteredArgsClasses(ocp.JsonCheckpointHandler), [args.JsonSave, args.JsonRestore]);
  t.is(ocp.handlers.getHandlerType('orbax.checkpoint.v0._src.handlers.json_checkpoint_handler.JsonCheckpointHandler'), ocp.JsonCheckpointHandler);
  t.throws(() => ocp.handlers.getHandlerType('my.Handler'), { instanceOf: ocp.KeyNotFoundError });
});

test('wrong args, a changed args type for an item and unrestorable items are clear, typed errors', async (t) => {
  const root = await tempDir(t);
  const json = new ocp.Checkpointer(new ocp.JsonCheckpointHandler());
  const wrong = await t.throwsAsync(json.save(join(root, 'a'), new args.StandardSave(TREE) as never), { instanceOf: ocp.InvalidArgumentError });
  t.is(wrong.message, 'JsonCheckpointHandler takes JsonSave args, got StandardSave. Pass the args class registered with this handler, or use a handler that takes these args.');
  t.deepEqual(await readdir(root), [], 'refused args leave nothing behind');
  await t.throwsAsync(json.save(join(root, 'a'), { not: 'args' } as never), { instanceOf: ocp.InvalidArgumentError });

  const composite = new ocp.CompositeCheckpointHandler();
  const checkpointer = new ocp.Checkpointer(composite);
  await checkpointer.save(join(root, 'c1'), new args.Composite({ state: new args.StandardSave(TREE) }));
  const changed = await t.throwsAsync(checkpointer.save(join(root, 'c2'), new args.Composite({ state: new args.JsonSave({}) })), { instanceOf: ocp.InvalidArgumentError });
  t.regex(changed.message, /^Item "state" and args "JsonSave\(\.\.\.\)" does not match with any registered handler!/);

  await mkdir(join(root, 'c1', 'LOCKED'));
  const stray = await t.throwsAsync(new ocp.Checkpointer(new ocp.CompositeCheckpointHandler()).restore(join(root, 'c1')), { instanceOf: ocp.InvalidArgumentError });
  t.regex(stray.message, /^Item "LOCKED" was found in the checkpoint, but could not be restored\./);

  const restricted = new ocp.CompositeCheckpointHandler({ itemNames: ['state'] });
  await t.throwsAsync(new ocp.Checkpointer(restricted).save(join(root, 'c3'), new args.Composite({ other: new args.JsonSave({}) })), {
    instanceOf: ocp.InvalidArgumentError,
    message: `Unknown key "other". Known items: ['state'].`,
  });
  const notFound = await t.throwsAsync(checkpointer.restore(join(root, 'nope')), { instanceOf: ocp.NotFoundError });
  t.is(notFound.message, `Checkpoint at ${join(root, 'nope')} not found.`);
});

/** A user handler: one text file, registered globally so composites find it from the typestr alone. */
class NoteSave extends args.CheckpointArgs {
  constructor(readonly text: string) {
    super();
  }
}
class NoteRestore extends args.CheckpointArgs {}
class NoteHandler implements ocp.CheckpointHandler<NoteSave, NoteRestore, string, null> {
  static typestr(): string {
    return 'my_project.handlers.NoteHandler';
  }
  typestr(): string {
    return NoteHandler.typestr();
  }
  async save(directory: string, a: NoteSave): Promise<void> {
    await writeFile(join(directory, 'note.txt'), a.text);
  }
  async restore(directory: string): Promise<string> {
    return readFile(join(directory, 'note.txt'), 'utf8');
  }
  async metadata(): Promise<null> {
    return null;
  }
  async finalize(): Promise<void> {}
  async close(): Promise<void> {}
}
args.registerWithHandler(NoteSave, NoteHandler, { forSave: true });
args.registerWithHandler(NoteRestore, NoteHandler, { forRestore: true });

test('a user handler registered with its args is picked by a composite and restored from its typestr', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  await new ocp.Checkpointer(new ocp.CompositeCheckpointHandler()).save(dir, new args.Composite({ note: new NoteSave('hello'), state: new args.PyTreeSave({ s: 'x' }) }));
  const meta = JSON.parse(await readFile(join(dir, '_CHECKPOINT_METADATA'), 'utf8')) as { item_handlers: Record<string, string> };
  t.is(meta.item_handlers.note, 'my_project.handlers.NoteHandler');
  const back = await new ocp.Checkpointer(new ocp.CompositeCheckpointHandler()).restore(dir);
  t.is(back.get('note'), 'hello');
  t.deepEqual(back.get('state'), { s: 'x' });
  const registry = new ocp.CheckpointHandlerRegistry();
  registry.add('note', NoteRestore, new NoteHandler());
  const only = await new ocp.Checkpointer(new ocp.CompositeCheckpointHandler({ handlerRegistry: registry })).restore(dir, new args.Composite({ note: new NoteRestore() }));
  t.deepEqual(only.entries(), [['note', 'hello']]);
});

test('AsyncCheckpointer over a composite: save returns once inputs are copied, commits in the background', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const data = Float32Array.from({ length: 1 << 14 }, (_, i) => i);
  {
    await using scoped = new ocp.AsyncCheckpointer(new ocp.JsonCheckpointHandler());
    await scoped.save(join(dir, '..', 'scoped'), new args.JsonSave({ a: 1 }));
    t.true(scoped.isSavingInProgress() || (await readdir(join(dir, '..'))).includes('scoped'));
  }
  t.deepEqual(await new ocp.Checkpointer(new ocp.JsonCheckpointHandler()).restore(join(dir, '..', 'scoped')), { a: 1 }, '`await using` waited for the commit');
  const checkpointer = new ocp.AsyncCheckpointer(new ocp.CompositeCheckpointHandler(), { asyncOptions: { timeoutSecs: 60 } });
  await checkpointer.save(dir, new args.Composite({ state: new args.StandardSave({ w: ocp.array(data) }), meta: new args.JsonSave({ step: 1 }) }));
  data.fill(-1);
  await checkpointer.waitUntilFinished();
  const back = await checkpointer.restore(dir);
  t.is(((back.get('state') as { w: ocp.NdArray<'float32'> }).w.data)[100], 100);
  t.deepEqual(back.get('meta'), { step: 1 });
  t.throws(() => new ocp.AsyncCheckpointer(new NoteHandler() as never), { instanceOf: ocp.InvalidArgumentError });
  await checkpointer.close();
});

// ---------------------------------------------------------------------------------------------
// Per-leaf restore arguments.

test('PyTreeRestore with restoreArgs: casts, result types, PLACEHOLDER, and constructRestoreArgs', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  const checkpointer = new ocp.PyTreeCheckpointer();
  await checkpointer.save(dir, TREE);
  const cast = (await checkpointer.restore(
    dir,
    new args.PyTreeRestore({ restoreArgs: { params: { w: new ocp.RestoreArgs({ dtype: 'float16' }), b: null }, step: new ocp.RestoreArgs({ restoreType: 'number' }), lr: null } }),
  )) as { params: { w: ocp.NdArray }; step: unknown };
  t.is(cast.params.w.dtype, 'float16');
  t.is(cast.step, 7);

  const skipped = (await checkpointer.restore(dir, { item: { params: { w: ocp.PLACEHOLDER, b: null }, step: null, lr: null } })) as Record<string, unknown>;
  t.is((skipped.params as Record<string, unknown>).w, ocp.PLACEHOLDER);

  const target = { params: { w: new ocp.ShapeDtypeStruct([2, 3], 'float64'), b: ocp.array(Float64Array.from([0, 0])) }, step: 0n, lr: 0 };
  const restoreArgs = ocp.checkpointUtils.constructRestoreArgs(target) as { params: { w: ocp.RestoreArgs }; step: ocp.RestoreArgs };
  t.deepEqual({ ...restoreArgs.params.w }, { restoreType: 'ndarray', dtype: 'float64' });
  t.is(restoreArgs.step.restoreType, 'bigint');
  const restored = (await checkpointer.restore(dir, { item: target, restoreArgs })) as { params: { w: ocp.NdArray } };
  t.is(restored.params.w.dtype, 'float64');
  t.throws(() => ocp.checkpointUtils.constructRestoreArgs({ x: new Map() }), { instanceOf: ocp.UnsupportedTypeError, message: 'Unsupported type: Map' });
  const sharded = ocp.checkpointUtils.constructRestoreArgs({ w: new ocp.ShapeDtypeStruct([4], 'float32', { sharding: { device_str: 'cpu:0' } }) }, { strict: false }) as { w: ocp.ArrayRestoreArgs };
  t.true(sharded.w instanceof ocp.ArrayRestoreArgs);
  t.deepEqual([...(sharded.w.globalShape ?? [])], [4]);
  t.false(sharded.w.strict);
});

test('global shapes: strict refuses a mismatch with Orbax\'s message; strict: false pads with zeros and truncates', async (t) => {
  const dir = join(await tempDir(t), 'ckpt');
  await new ocp.PyTreeCheckpointer().save(dir, { x: ocp.array(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) });
  const checkpointer = new ocp.PyTreeCheckpointer();
  const strict = await t.throwsAsync(
    checkpointer.restore(dir, { restoreArgs: { x: new ocp.ArrayRestoreArgs({ globalShape: [3, 3] }) } }),
    { instanceOf: ocp.InvalidArgumentError },
  );
  t.is(
    strict.message,
    "Requested shape: (3, 3) is not compatible with the stored shape: (2, 3) of ('x',). Truncating/padding is disabled by strict=true; pass strict: false to pad with zeros or truncate.",
  );
  const padded = (await checkpointer.restore(dir, { restoreArgs: { x: new ocp.ArrayRestoreArgs({ globalShape: [3, 4], strict: false }) } })) as { x: ocp.NdArray<'float32'> };
  t.deepEqual([...padded.x.shape], [3, 4]);
  t.deepEqual([...padded.x.data], [1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0]);
  const cut = (await checkpointer.restore(dir, { restoreArgs: { x: new ocp.ArrayRestoreArgs({ globalShape: [1, 2], strict: false }) } })) as { x: ocp.NdArray<'float32'> };
  t.deepEqual([...cut.x.data], [1, 2]);
  const shard = (await checkpointer.restore(dir, { restoreArgs: { x: new ocp.ArrayRestoreArgs({ slice: [[1, 2], [1, 3]] }) } })) as { x: ocp.NdArray<'float32'> };
  t.deepEqual([...shard.x.shape], [1, 2]);
  t.deepEqual([...shard.x.data], [5, 6], 'a slice loads only what this process owns');
  t.throws(() => new ocp.ArrayRestoreArgs({ slice: [[0, 1]], globalShape: [2, 3] }), { instanceOf: ocp.InvalidArgumentError });
  const std = new ocp.StandardCheckpointer();
  const host = (await std.restore(dir, { x: ocp.array(new Float32Array(4), [4, 1]) })) as { x: ocp.NdArray };
  t.deepEqual([...host.x.shape], [2, 3], 'strict host targets keep the stored shape, as in Python');
  const resized = (await std.restore(dir, { x: ocp.array(new Float32Array(8), [2, 4]) }, { strict: false })) as { x: ocp.NdArray<'float32'> };
  t.deepEqual([...resized.x.data], [1, 2, 3, 0, 4, 5, 6, 0]);
  await std.close();
});
