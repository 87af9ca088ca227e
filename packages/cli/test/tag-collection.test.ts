import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTempDirs, runCli, runCliJson, tempDir } from './harness';
import { IndexJson, recordsIn, syncInProcess } from './index-helpers';

afterAll(removeTempDirs);

interface TagJson {
  uuid: string;
  name: string;
  color: string;
  origin: string;
  assignments: number;
}

async function twoDevices(): Promise<[string, string]> {
  const [libA, libB] = [tempDir(), tempDir()];
  const { libraryId } = await runCliJson<{ libraryId: string }>(['init', '--library', libA]);
  await runCliJson(['init', '--library', libB, '--library-id', libraryId]);
  return [libA, libB];
}

async function ok(args: string[]): Promise<string> {
  const result = await runCli(args);
  if (result.code !== 0)
    throw new Error(`tidemark ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

const tags = (lib: string) => runCliJson<TagJson[]>(['tag', 'list', '--library', lib]);

test('a tag renamed concurrently on A and B converges to one name everywhere after syncing both ways', async () => {
  const [libA, libB] = await twoDevices();
  const uuid = (await ok(['tag', 'add', '--library', libA, 'holiday', '--color', '#FF8800'])).trim();
  await syncInProcess(libB, libA);
  expect(await tags(libB)).toEqual([
    { uuid, name: 'holiday', color: '#ff8800', origin: expect.any(String), assignments: 0 },
  ]);

  // Neither device has seen the other's rename.
  await ok(['tag', 'rename', '--library', libA, 'holiday', 'summer']);
  await ok(['tag', 'rename', '--library', libB, uuid, 'winter']);
  expect((await tags(libA))[0].name).toBe('summer');
  expect((await tags(libB))[0].name).toBe('winter');

  await syncInProcess(libA, libB);
  await syncInProcess(libB, libA);
  const [onA, onB] = [await tags(libA), await tags(libB)];
  expect(onA).toEqual(onB);
  expect(onA).toHaveLength(1);
  expect(onA[0]).toMatchObject({ uuid, color: '#ff8800' });
  expect(['summer', 'winter']).toContain(onA[0].name);
  const hlcs = await Promise.all(
    [libA, libB].map(async (lib) => (await recordsIn(lib, 'tag')).map((tag) => tag.hlc)),
  );
  expect(hlcs[0]).toEqual(hlcs[1]);

  // Two devices that each add "trip" before syncing end up with two tags of that name: names
  // then become ambiguous and the uuid picks one.
  const tripA = (await ok(['tag', 'add', '--library', libA, 'trip'])).trim();
  await ok(['tag', 'add', '--library', libB, 'trip']);
  await syncInProcess(libA, libB);
  const ambiguous = await runCli(['tag', 'rm', '--library', libA, 'trip']);
  expect(ambiguous.code).toBe(2);
  expect(ambiguous.stderr).toMatch(/^tidemark: 2 tags are named "trip"; name one by uuid: .+\n$/);
  expect(await ok(['tag', 'rm', '--library', libA, tripA])).toMatch(/^removed tag "trip"/);
  await syncInProcess(libB, libA);
  expect((await tags(libB)).filter((t) => t.name === 'trip')).toHaveLength(1);
});

test('tag assign/unassign work on content identities shared by identical files on two devices', async () => {
  const [libA, libB] = await twoDevices();
  const [treeA, treeB] = [tempDir(), tempDir()];
  fs.writeFileSync(path.join(treeA, 'a.txt'), 'the same bytes on both devices\n');
  fs.mkdirSync(path.join(treeA, 'sub'));
  fs.writeFileSync(path.join(treeA, 'sub', 'b.txt'), 'only on A\n');
  fs.writeFileSync(path.join(treeB, 'copy-of-a.txt'), 'the same bytes on both devices\n');
  await runCliJson<IndexJson>(['index', '--library', libA, treeA]);
  await runCliJson<IndexJson>(['index', '--library', libB, treeB]);

  await ok(['tag', 'add', '--library', libA, 'keep']);
  expect(await ok(['tag', 'assign', '--library', libA, 'keep', path.join(treeA, 'a.txt')])).toMatch(
    /^tagged .*a\.txt/,
  );
  expect(await ok(['tag', 'assign', '--library', libA, 'keep', path.join(treeA, 'a.txt')])).toMatch(
    /already has tag "keep"/,
  );
  await syncInProcess(libB, libA);
  expect(await tags(libB)).toMatchObject([{ name: 'keep', assignments: 1 }]);
  // Two devices indexing identical bytes made one content identity, not two.
  const contents = await recordsIn(libB, 'content_identity');
  expect(contents).toHaveLength(2);

  // B removes the tag through its own copy: same content, so the same assignment.
  await ok(['tag', 'unassign', '--library', libB, 'keep', path.join(treeB, 'copy-of-a.txt')]);
  await syncInProcess(libA, libB);
  expect(await tags(libA)).toMatchObject([{ name: 'keep', assignments: 0 }]);

  await ok(['tag', 'assign', '--library', libA, 'keep', path.join(treeA, 'sub', 'b.txt')]);
  expect(await ok(['tag', 'rm', '--library', libA, 'keep'])).toMatch(
    /^removed tag "keep" \(.*\) and 1 assignment/,
  );
  expect(await tags(libA)).toEqual([]);
  expect(await recordsIn(libA, 'tag_assignment')).toEqual([]);
  expect(await ok(['tag', 'list', '--library', libA])).toMatch(/^no tags/);
});

test('collections: add, list, rm', async () => {
  const [libA, libB] = await twoDevices();
  const uuid = (
    await ok(['collection', 'add', '--library', libA, 'Trip to Lisbon', '--description', 'May 2025'])
  ).trim();
  await syncInProcess(libB, libA);
  const listed = await runCliJson<{ uuid: string; name: string; description: string }[]>([
    'collection',
    'list',
    '--library',
    libB,
  ]);
  expect(listed).toEqual([
    { uuid, name: 'Trip to Lisbon', description: 'May 2025', origin: expect.any(String) },
  ]);
  expect(await ok(['collection', 'list', '--library', libB])).toMatch(/Trip to Lisbon\s+May 2025/);
  const duplicate = await runCli(['collection', 'add', '--library', libB, 'Trip to Lisbon']);
  expect(duplicate.code).toBe(3);
  expect(duplicate.stderr).toBe(`tidemark: a collection named "Trip to Lisbon" already exists (${uuid})\n`);
  expect(await ok(['collection', 'rm', '--library', libB, 'Trip to Lisbon'])).toMatch(/^removed collection/);
  await syncInProcess(libA, libB);
  expect(await runCliJson(['collection', 'list', '--library', libA])).toEqual([]);
  const gone = await runCli(['collection', 'rm', '--library', libA, uuid]);
  expect(gone.code).toBe(3);
});

test('tag errors are one clear line with the documented exit code; every command has --help examples', async () => {
  const lib = tempDir();
  const tree = tempDir();
  fs.mkdirSync(path.join(tree, 'dir'));
  fs.writeFileSync(path.join(tree, 'file.txt'), 'x\n');
  await runCliJson(['init', '--library', lib]);
  await runCliJson(['index', '--library', lib, tree]);
  await ok(['tag', 'add', '--library', lib, 'red']);
  await ok(['tag', 'add', '--library', lib, 'blue']);

  const cases: [string[], number, RegExp][] = [
    [
      ['tag', 'rm', '--library', lib, 'nosuch'],
      3,
      /^tidemark: no tag named "nosuch"; list them with `tidemark tag list`\n$/,
    ],
    [['tag', 'add', '--library', lib, 'red'], 3, /^tidemark: a tag named "red" already exists \(.{36}\)\n$/],
    [
      ['tag', 'add', '--library', lib, 'green', '--color', 'green'],
      2,
      /^tidemark: --color must be #rrggbb, got "green"\n$/,
    ],
    [
      ['tag', 'add', '--library', lib, ''],
      2,
      /^tidemark: invalid tag: name must be a string of 1 to 256 bytes/,
    ],
    [
      ['tag', 'add', '--library', lib, 'x'.repeat(257)],
      2,
      /invalid tag: name must be a string of 1 to 256 bytes/,
    ],
    [
      ['tag', 'add', '--library', lib, '0b79cf7e-631e-451e-8aee-83d9646fee82'],
      2,
      /a tag name cannot be a UUID/,
    ],
    [['tag', 'rename', '--library', lib, 'red', 'blue'], 3, /a tag named "blue" already exists/],
    [
      ['tag', 'assign', '--library', lib, 'red', path.join(tree, 'dir')],
      2,
      /dir is a directory; tags attach to the content of files\n$/,
    ],
    [
      ['tag', 'assign', '--library', lib, 'red', path.join(tree, 'missing.txt')],
      3,
      /missing\.txt is not indexed; re-run `tidemark index`/,
    ],
    [['tag', 'assign', '--library', lib, 'red', '/etc/hostname'], 3, /is not inside an indexed location/],
    [['tag', 'assign', '--library', lib, 'nosuch', path.join(tree, 'file.txt')], 3, /no tag named "nosuch"/],
    [
      ['tag', 'unassign', '--library', lib, 'red', path.join(tree, 'file.txt')],
      3,
      /file\.txt does not have tag "red"\n$/,
    ],
    [['tag', 'list', '--library', path.join(lib, 'none')], 3, /no library at/],
    [['tag', 'add', 'red'], 2, /required option '--library <dir>' not specified/],
  ];
  for (const [args, code, stderr] of cases) {
    const result = await runCli(args);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({
      args,
      code,
      stderr: expect.stringMatching(stderr),
    });
  }
  // A failed command wrote nothing.
  expect((await runCliJson<TagJson[]>(['tag', 'list', '--library', lib])).map((t) => t.name)).toEqual([
    'blue',
    'red',
  ]);

  const commands = [
    ['tag'],
    ...['add', 'rm', 'rename', 'list', 'assign', 'unassign', 'prune'].map((c) => ['tag', c]),
    ['collection'],
    ...['add', 'rm', 'list'].map((c) => ['collection', c]),
  ];
  for (const command of commands) {
    const help = await runCli([...command, '--help']);
    expect({ command, code: help.code, examples: /Examples:\n\s+\$ tidemark /.test(help.stdout) }).toEqual({
      command,
      code: 0,
      examples: true,
    });
  }
});

/** README: `--json` prints one JSON document instead of text, on every command that prints a result. */
test('every tag and collection command prints its result as one JSON document with --json', async () => {
  const lib = tempDir();
  const tree = tempDir();
  fs.writeFileSync(path.join(tree, 'file.txt'), 'x\n');
  await runCliJson(['init', '--library', lib]);
  await runCliJson(['index', '--library', lib, tree]);
  const file = path.join(tree, 'file.txt');
  const tag = await runCliJson<{ uuid: string }>(['tag', 'add', '--library', lib, 'red', '--json']);
  expect(await runCliJson(['tag', 'rename', '--library', lib, 'red', 'blue', '--json'])).toEqual({
    uuid: tag.uuid,
    name: 'blue',
    previousName: 'red',
    changed: true,
  });
  const assigned = await runCliJson<{ contentUuid: string }>([
    'tag',
    'assign',
    '--library',
    lib,
    'blue',
    file,
    '--json',
  ]);
  expect(assigned).toMatchObject({ tagUuid: tag.uuid, tag: 'blue', path: file, created: true });
  expect(await runCliJson(['tag', 'assign', '--library', lib, 'blue', file, '--json'])).toMatchObject({
    created: false,
  });
  expect(await runCliJson(['tag', 'unassign', '--library', lib, 'blue', file, '--json'])).toEqual({
    tagUuid: tag.uuid,
    tag: 'blue',
    path: file,
    contentUuid: assigned.contentUuid,
  });
  expect(await runCliJson(['tag', 'rm', '--library', lib, 'blue', '--json'])).toEqual({
    uuid: tag.uuid,
    name: 'blue',
    assignmentsRemoved: 0,
  });
  const collection = await runCliJson<{ uuid: string }>([
    'collection',
    'add',
    '--library',
    lib,
    'c',
    '--json',
  ]);
  expect(await runCliJson(['collection', 'rm', '--library', lib, 'c', '--json'])).toEqual({
    uuid: collection.uuid,
    name: 'c',
  });
});

/*
 * `tag rm` deletes the assignments it holds with the tag, but one made on another device before
 * the two synced arrives afterwards and names a tag that is gone: hidden from `tag list`, kept on
 * every device. `doctor` counts it, and `tag prune` deletes it everywhere (a tombstone).
 */
test('an assignment made while its tag was removed elsewhere is counted by doctor and pruned everywhere', async () => {
  const [libA, libB] = await twoDevices();
  const tree = tempDir();
  fs.writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  await runCliJson<IndexJson>(['index', '--library', libB, tree]);
  await ok(['tag', 'add', '--library', libA, 'red']);
  await syncInProcess(libB, libA);
  // Neither device has seen the other's change.
  await ok(['tag', 'rm', '--library', libA, 'red']);
  await ok(['tag', 'assign', '--library', libB, 'red', path.join(tree, 'a.txt')]);
  await syncInProcess(libA, libB);
  await syncInProcess(libB, libA);

  const tagNote = async (lib: string) => {
    const { findings } = await runCliJson<{ findings: { check: string; message: string }[] }>([
      'doctor',
      '--library',
      lib,
      '--json',
    ]);
    return findings.find((finding) => finding.check === 'tags')?.message;
  };
  for (const lib of [libA, libB]) {
    expect(await tags(lib)).toEqual([]);
    expect(await recordsIn(lib, 'tag_assignment')).toHaveLength(1);
    expect(await tagNote(lib)).toMatch(/^1 tag assignment\(s\) name a deleted tag .*`tidemark tag prune`/);
  }

  expect(await runCliJson(['tag', 'prune', '--library', libA, '--json'])).toEqual({ deleted: 1 });
  expect(await runCliJson(['tag', 'prune', '--library', libA, '--json'])).toEqual({ deleted: 0 });
  await syncInProcess(libB, libA);
  for (const lib of [libA, libB]) {
    expect(await recordsIn(lib, 'tag_assignment')).toEqual([]);
    expect(await tagNote(lib)).toBeUndefined();
  }
});
