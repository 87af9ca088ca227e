import { createMembers, removeTempDirs } from './fixtures';
import { digestsOf, syncOnce } from './sync-helpers';
import { writeSyntheticLibrary } from '../src/testing/synthetic';

afterAll(removeTempDirs);

test('smoke: a small library syncs', async () => {
  const [a, b] = await createMembers(2);
  await writeSyntheticLibrary(a, { volumes: 2, locations: 3, entries: 2500, entriesPerTransaction: 1000 });
  const events = await syncOnce(b, a, { batchSize: 1000 });
  console.log(
    events.filter((e) => e.kind !== 'batch' || e.caughtUp).map((e) => JSON.stringify(e).slice(0, 200)),
  );
  const da = await digestsOf(a);
  const db = await digestsOf(b);
  expect({ ...db, device: '' }).toEqual({ ...da, device: '' });
  await a.close();
  await b.close();
});
