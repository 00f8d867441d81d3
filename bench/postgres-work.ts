// What PostgreSQL itself wrote for a figure, read from its own positions rather than timed: the
// WAL's bytes (pg_current_wal_lsn) and the transactions that wrote (the next transaction id).
// Both move at once and for the whole cluster, which during a figure is the bench's database
// alone, so they count work, not the machine's speed: two builds measured one after the other
// can be compared on them where their rates are within the machine's noise. Full-page images
// after a checkpoint fall on whichever figure runs then, so the WAL bytes carry some of that.
import pg from 'pg';

interface PostgresPosition {
  walBytes: number;
  nextXid: number;
}

export class PostgresWork {
  private readonly used = { walBytes: 0, transactions: 0, deliveries: 0 };
  private before: PostgresPosition | null = null;
  /** Why the positions could not be read (a server before PostgreSQL 13): counted no more. */
  private failed: string | null = null;

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    this.before = await this.read();
  }

  /** `deliveries`: what was delivered since start(). */
  async stop(deliveries: number): Promise<void> {
    const before = this.before;
    if (!before) return;
    this.before = null;
    const after = await this.read();
    if (!after) return;
    this.used.walBytes += after.walBytes - before.walBytes;
    // The read after start() took no transaction id of its own: pg_current_snapshot does not.
    this.used.transactions += after.nextXid - before.nextXid;
    this.used.deliveries += deliveries;
  }

  private async read(): Promise<PostgresPosition | null> {
    if (this.failed !== null) return null;
    try {
      return await readPosition(this.url);
    } catch (err) {
      this.failed = String(err);
      process.stderr.write(`bench: PostgreSQL's writes not counted: ${this.failed}\n`);
      return null;
    }
  }

  /** Per delivery, over every run measured; null before any. */
  perDelivery(): { walBytes: number; transactions: number } | null {
    const { walBytes, transactions, deliveries } = this.used;
    if (deliveries === 0 || this.failed !== null) return null;
    return { walBytes: walBytes / deliveries, transactions: transactions / deliveries };
  }

  /** "PostgreSQL wrote 1,402 WAL bytes a delivery, one transaction for 47 deliveries", or ''. */
  describe(): string {
    const per = this.perDelivery();
    if (per === null) return '';
    const bytes = Math.round(per.walBytes).toLocaleString('en-US');
    const transactions =
      per.transactions > 0
        ? `one transaction for ${Math.round(1 / per.transactions).toLocaleString('en-US')} deliveries`
        : 'in no transaction';
    return `PostgreSQL wrote ${bytes} WAL bytes a delivery, ${transactions}`;
  }
}

/** Where the WAL and the transaction ids stand now. */
async function readPosition(url: string): Promise<PostgresPosition> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ wal: string; xid: string }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal,
              pg_snapshot_xmax(pg_current_snapshot())::text AS xid`,
    );
    return { walBytes: Number(rows[0]!.wal), nextXid: Number(rows[0]!.xid) };
  } finally {
    await client.end();
  }
}

/**
 * The server's settings that shape the PostgreSQL figures, for the bench's header: "PostgreSQL
 * 15.19: autovacuum off, fsync on, synchronous_commit on, no preloaded libraries". This
 * machine's server runs without autovacuum (the CI's setting), so a figure's queue keeps every
 * dead row it made, and its claims read past them; a preloaded `pg_stat_statements` does work
 * beside every statement. Null when no server answers.
 */
export async function describeServer(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<Record<string, string>>(
      `SELECT current_setting('server_version') AS version,
         current_setting('autovacuum') AS autovacuum, current_setting('fsync') AS fsync,
         current_setting('synchronous_commit') AS synchronous_commit,
         current_setting('shared_preload_libraries') AS preloaded`,
    );
    const s = rows[0]!;
    const preloaded = s.preloaded === '' ? 'no preloaded libraries' : `preloaded: ${s.preloaded}`;
    return `PostgreSQL ${s.version}: autovacuum ${s.autovacuum}, fsync ${s.fsync}, synchronous_commit ${s.synchronous_commit}, ${preloaded}`;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}
