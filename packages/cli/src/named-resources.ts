import {
  isUuid,
  NamedResourceName,
  readRecord,
  readRecordsNamed,
  ReadScope,
  RecordOf,
  TidemarkError,
} from '@tidemark/engine';

/**
 * Finds a tag or collection by uuid, else by name. Names are not unique across devices (two
 * devices may each add "holiday" before they sync), so an ambiguous name asks for the uuid.
 */
export async function resolveNamed<N extends NamedResourceName>(
  scope: ReadScope,
  type: N,
  ref: string,
): Promise<RecordOf[N]> {
  const byUuid = await readRecord(scope, type, ref.toLowerCase());
  if (byUuid) return byUuid;
  const named = await readRecordsNamed(scope, type, ref);
  if (named.length === 1) return named[0];
  if (named.length === 0) {
    throw new TidemarkError(
      'NOT_FOUND',
      `no ${type} named "${ref}"; list them with \`tidemark ${type} list\``,
    );
  }
  throw new TidemarkError(
    'INVALID_ARGUMENT',
    `${named.length} ${type}s are named "${ref}"; name one by uuid: ${named.map((record) => record.uuid).join(', ')}`,
  );
}

/** A new name must be free, and must not look like a uuid (NAME|UUID arguments would be ambiguous). */
export async function checkNewName(scope: ReadScope, type: NamedResourceName, name: string): Promise<void> {
  if (isUuid(name.toLowerCase())) {
    throw new TidemarkError('INVALID_ARGUMENT', `a ${type} name cannot be a UUID ("${name}")`);
  }
  const [clash] = await readRecordsNamed(scope, type, name);
  if (clash)
    throw new TidemarkError('ALREADY_EXISTS', `a ${type} named "${name}" already exists (${clash.uuid})`);
}
