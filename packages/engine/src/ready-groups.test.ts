import { EntryKind, ResourceType, StateBatch } from '@tidemark/proto';
import { readyGroups } from './client';

/** A batch of `rows` entries whose paths carry `pathChars` characters each. */
function batchOf(rows: number, pathChars: number): StateBatch {
  return StateBatch.fromPartial({
    resourceType: ResourceType.RESOURCE_TYPE_ENTRY,
    records: Array.from({ length: rows }, (_, index) => ({
      kind: {
        $case: 'entry' as const,
        value: { uuid: `u${index}`, relativePath: 'p'.repeat(pathChars), kind: EntryKind.ENTRY_KIND_FILE },
      },
    })),
  });
}

/** An iterator over `batches` that counts the reads made of it. */
function counted(batches: readonly StateBatch[]) {
  let reads = 0;
  const iterator: AsyncIterator<StateBatch> = {
    next: async () => {
      reads += 1;
      const value = batches[reads - 1];
      return value ? { done: false, value } : { done: true, value: undefined };
    },
  };
  return { iterator, reads: () => reads };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('small batches are grouped, and one more is read while a group is applied', async () => {
  const source = counted(Array.from({ length: 4 }, () => batchOf(3_000, 100)));
  const groups = readyGroups(source.iterator);
  const first = await groups.next();
  // 3,000 + 3,000 + 3,000 rows reach 10,000 with the fourth: groups stop at the row limit.
  expect(first.value).toHaveLength(4);
  await tick();
  expect(source.reads()).toBe(5); // the read that finds the end, ahead of the next group
});

test('a batch of 8 MiB or more is applied alone, and nothing is read while it is', async () => {
  // 3 rows of 3 MB: about 9 MB, like a few thousand rows at their field bounds.
  const source = counted([batchOf(3, 3_000_000), batchOf(3, 3_000_000), batchOf(1, 10)]);
  const groups = readyGroups(source.iterator);
  const first = await groups.next();
  expect(first.value).toHaveLength(1);
  await tick();
  await tick();
  expect(source.reads()).toBe(1);
  // Asked for the next group (the first one applied), it reads again.
  const second = await groups.next();
  expect(second.value).toHaveLength(1);
  expect(source.reads()).toBe(2);
});
