// Both engines refuse a database that a newer release has migrated: its tables may hold what
// this code cannot read, and writing to them could lose it. The ledger (schema_migrations) names
// every migration applied; one this code does not know means the database is newer.

export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';
}

/** Throws SchemaTooNewError when `applied` holds a version that is not in `known`. */
export function assertSchemaNotNewer(
  applied: Iterable<number>,
  known: readonly { version: number }[],
): void {
  const versions = new Set(known.map((m) => m.version));
  const unknown = [...applied].filter((v) => !versions.has(v)).sort((a, b) => a - b);
  if (unknown.length === 0) return;
  const newest = Math.max(0, ...versions);
  throw new SchemaTooNewError(
    `the database was migrated by a newer release of rizler-webhooks (schema migration ${unknown.join(', ')}; this release knows up to ${newest}): run that release or a newer one, or restore a backup taken before the upgrade`,
  );
}
