import { randomBytes } from 'node:crypto';
import { timeCommitIdWorkSync } from './commit-id-cost';
import { SqlRunner } from './store/library-database';

/**
 * Commit ids: which write transaction issued a seq (docs/architecture.md, "Restored libraries").
 * Seqs alone cannot tell a restored database's new history from the one a peer's cursor was
 * taken on: both number their rows from the same point. A random id per transaction can.
 */

/** 128 random bits as 32 lowercase hex digits. */
export function newCommitId(): string {
  return randomBytes(16).toString('hex');
}

/** Names the seqs up to `highSeq` not named yet; call inside the transaction that issued them. */
export async function recordCommit(sql: SqlRunner, highSeq: number): Promise<void> {
  await sql.query('INSERT INTO commits (high_seq, commit_id) VALUES (?, ?)', [highSeq, newCommitId()]);
}

/**
 * The id of the transaction that issued `seq`, or undefined for seq 0 and for a seq beyond
 * everything committed here.
 */
export async function commitAt(sql: SqlRunner, seq: number): Promise<string | undefined> {
  if (seq <= 0) return undefined;
  const [row] = await sql.query<{ commit_id: string }>(
    'SELECT commit_id FROM commits WHERE high_seq >= ? ORDER BY high_seq LIMIT 1',
    [seq],
  );
  return row?.commit_id;
}

export const COMMIT_ID_PATTERN = /^[0-9a-f]{32}$/;

/** Whether a commit id from the wire is empty (a v1 peer) or of the form a checkpoint sends. */
export function isCommitIdForm(commitId: string): boolean {
  return timeCommitIdWorkSync('validate', () => commitId === '' || COMMIT_ID_PATTERN.test(commitId));
}
