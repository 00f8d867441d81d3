// PostgreSQL schema, as numbered, append-only migrations: the same tables and columns as the
// SQLite engine's (../sqlite/migrations.ts) in PostgreSQL types. Each migration runs in its own
// transaction together with its ledger row in schema_migrations, under an advisory lock, so
// several processes starting at once apply it exactly once. Never edit a migration that has
// shipped: add the next number.
//
// Engine differences, on purpose:
// - ids are `text COLLATE "C"`: byte order, as in SQLite, whatever the database's collation,
//   so "newest first" (ORDER BY id DESC) and the `after` cursor agree in both engines and use
//   the (account_id, id) indexes.
// - times are bigint milliseconds; flags are boolean; `events` is jsonb (an array of
//   patterns), `request_headers` is json (kept as written, header order included).
// - attempts get an identity column `seq`: SQLite lists a delivery's attempts by rowid.

import { BOUNDS } from '../../core/histogram.js';
import { SLOT_MS } from '../rollups.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Key of pg_advisory_xact_lock held while migrating: "rizler" in ASCII, arbitrary but fixed. */
export const MIGRATION_LOCK = 0x72_69_7a_6c_65_72;

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE accounts (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  api_key_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL
);

CREATE TABLE webhooks (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  url text NOT NULL,
  description text,
  events jsonb NOT NULL,
  status text NOT NULL,
  disabled_reason text,
  rate_limit_per_minute integer,
  secret text NOT NULL,
  previous_secret text,
  previous_secret_expires_at bigint,
  -- first failure since the last success; drives auto-disable
  failing_since bigint,
  -- token bucket of the per-endpoint delivery rate, shared by every worker
  rate_tokens double precision,
  rate_refilled_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);

CREATE TABLE events (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  type text NOT NULL,
  timestamp text NOT NULL,
  payload text NOT NULL,
  idempotency_key text,
  test boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL
);
CREATE INDEX events_by_account ON events (account_id, id);
CREATE UNIQUE INDEX events_by_idempotency_key ON events (account_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_by_created ON events (created_at);

CREATE TABLE deliveries (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  webhook_id text COLLATE "C",
  event_id text COLLATE "C" NOT NULL,
  event_type text NOT NULL,
  url text NOT NULL,
  status text NOT NULL,
  attempt_count integer NOT NULL DEFAULT 0,
  auto_attempts integer NOT NULL DEFAULT 0,
  last_status_code integer,
  last_duration_ms bigint,
  last_error text,
  last_attempt_at bigint,
  -- when the next automatic attempt is due (shown to users)
  next_attempt_at bigint,
  -- when a worker should next pick the row up: the next attempt, a manual retry, or the end
  -- of a lease. NULL: nothing to do (finished, or its endpoint is disabled).
  due_at bigint,
  lease_token text,
  -- true: due, but its endpoint was at its in-flight cap when a claim reached it. Held rows
  -- leave the due index (due_at NULL) and come back as that endpoint's attempts finish, so
  -- claims never rescan a saturated endpoint's backlog.
  held boolean NOT NULL DEFAULT false,
  manual_requested boolean NOT NULL DEFAULT false,
  test boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_held ON deliveries (webhook_id, id) WHERE held;
CREATE INDEX deliveries_leased ON deliveries (webhook_id) WHERE lease_token IS NOT NULL;
CREATE INDEX deliveries_by_account ON deliveries (account_id, id);
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
CREATE INDEX deliveries_by_created ON deliveries (created_at);
-- tail follows an account's deliveries by updated_at: at 100k deliveries of one account, 39 ms
-- per poll without it (a backward scan of the primary key), 0.04 ms with it (PostgreSQL 15,
-- this machine). A comment only: the schema of this shipped migration is unchanged.
CREATE INDEX deliveries_by_account_updated ON deliveries (account_id, updated_at);

CREATE TABLE attempts (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id text COLLATE "C" NOT NULL,
  webhook_id text COLLATE "C",
  attempt integer NOT NULL,
  trigger text NOT NULL,
  url text NOT NULL,
  started_at bigint NOT NULL,
  duration_ms bigint NOT NULL,
  status_code integer,
  response_body text,
  error text,
  request_headers json NOT NULL
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, started_at);
CREATE INDEX attempts_by_started ON attempts (started_at);
`,
  },
  {
    version: 2,
    name: 'stats rollups and batched deletes',
    // Stats from rollups (../rollups.ts), backfilled here from the rows already stored; the
    // histogram buckets are core/histogram.ts's, found by width_bucket over its bounds.
    sql: `
CREATE TABLE delivery_rollups (
  webhook_id text COLLATE "C" NOT NULL,
  -- start of the 5-minute slot (ms)
  slot bigint NOT NULL,
  account_id text COLLATE "C" NOT NULL,
  -- deliveries created in the slot that have succeeded / failed by now
  succeeded integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  -- start of the latest attempt started in the slot
  last_attempt_at bigint,
  -- response times of the attempts started in the slot: {"bucket": count}
  histogram jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (webhook_id, slot)
);
CREATE INDEX delivery_rollups_by_slot ON delivery_rollups (slot);
CREATE INDEX delivery_rollups_by_account ON delivery_rollups (account_id);
-- stats count pending deliveries from here: as many entries as are pending right now
CREATE INDEX deliveries_pending ON deliveries (webhook_id, created_at) WHERE status = 'pending';

-- webhooks and accounts deleted whose rows the background purge has still to remove
CREATE TABLE deleted_owners (
  id text COLLATE "C" PRIMARY KEY,
  kind text NOT NULL,
  deleted_at bigint NOT NULL
);

INSERT INTO delivery_rollups (webhook_id, slot, account_id, succeeded, failed)
SELECT webhook_id, created_at / ${SLOT_MS} * ${SLOT_MS}, min(account_id),
  count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
FROM deliveries WHERE webhook_id IS NOT NULL AND status <> 'pending'
GROUP BY webhook_id, created_at / ${SLOT_MS};

INSERT INTO delivery_rollups AS r (webhook_id, slot, account_id, last_attempt_at, histogram)
SELECT webhook_id, slot, min(account_id), max(last_at), jsonb_object_agg(bucket, n)
FROM (
  SELECT a.webhook_id, a.started_at / ${SLOT_MS} * ${SLOT_MS} AS slot,
    min(d.account_id) AS account_id, max(a.started_at) AS last_at,
    width_bucket(greatest(a.duration_ms, 0), ARRAY[${BOUNDS.join(',')}]::bigint[]) - 1 AS bucket,
    count(*) AS n
  FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
  WHERE a.webhook_id IS NOT NULL
  GROUP BY 1, 2, 5) AS per_bucket
GROUP BY webhook_id, slot
ON CONFLICT (webhook_id, slot) DO UPDATE SET
  last_attempt_at = EXCLUDED.last_attempt_at, histogram = EXCLUDED.histogram;
`,
  },
  {
    version: 3,
    name: 'adaptive endpoint concurrency',
    sql: `
-- The adaptive in-flight limit of each endpoint (storage/throttle.ts), shared by every worker:
-- NULL when not throttled (the service maximum applies).
ALTER TABLE webhooks ADD COLUMN concurrency_limit integer;
-- failed attempts in a row since the last success
ALTER TABLE webhooks ADD COLUMN failure_streak integer NOT NULL DEFAULT 0;
-- why the limit was cut (timeouts, overloaded, errors), and since when
ALTER TABLE webhooks ADD COLUMN throttle_reason text;
ALTER TABLE webhooks ADD COLUMN throttled_since bigint;
-- each account's due rows in due order: claims take turns across the accounts that have
-- deliveries due (storage/fair-share.ts), and hold a saturated endpoint's backlog through it
CREATE INDEX deliveries_due_by_account ON deliveries (account_id, due_at) WHERE due_at IS NOT NULL;
`,
  },
  {
    version: 4,
    name: 'ordering keys',
    sql: `
-- SPEC §10: the event's ordering key (published, or the catalogue's default for its type),
-- copied to its deliveries for GET /v1/deliveries?ordering_key= and the claim
ALTER TABLE events ADD COLUMN ordering_key text;
ALTER TABLE deliveries ADD COLUMN ordering_key text COLLATE "C";
CREATE INDEX deliveries_by_ordering_key ON deliveries (account_id, ordering_key, id)
  WHERE ordering_key IS NOT NULL;
`,
  },
  {
    // SPEC §11: custom headers and a content filter per endpoint (json, not jsonb: they read
    // back in the order they were written), and the trace context an event was published under.
    // Number 5: 2-4 and 6 belong to other work merging at the same time; migrations apply by
    // membership in the ledger, not by the highest number, so the gap is harmless.
    version: 5,
    name: 'endpoint controls',
    sql: `
ALTER TABLE webhooks ADD COLUMN headers json NOT NULL DEFAULT '{}';
ALTER TABLE webhooks ADD COLUMN filter json;
ALTER TABLE events ADD COLUMN traceparent text;
`,
  },
  // 6, not 2: versions 2 to 5 are kept for migrations of branches merged alongside this one.
  // The runner applies every listed migration missing from the ledger, so the gap is harmless.
  {
    version: 6,
    name: 'platform access: account status and limits, api keys, portal sessions, audit log',
    sql: `
-- status: active, suspended, or deleted (rows purged in the background, deleted_at set).
ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN deleted_at bigint;
ALTER TABLE accounts ADD COLUMN max_endpoints integer;
ALTER TABLE accounts ADD COLUMN api_rate_limit_per_minute integer;
ALTER TABLE accounts ADD COLUMN publish_rate_limit_per_minute integer;
ALTER TABLE accounts ADD COLUMN endpoint_rate_limit_per_minute integer;
CREATE INDEX accounts_inactive ON accounts (status) WHERE status <> 'active';
-- The account's rate default for its endpoints, copied here so the claim reads it with the
-- endpoint row it already locks.
ALTER TABLE webhooks ADD COLUMN account_rate_limit_per_minute integer;

CREATE TABLE api_keys (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  name text NOT NULL,
  scopes jsonb NOT NULL,
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  expires_at bigint,
  last_used_at bigint,
  revoked_at bigint
);
CREATE INDEX api_keys_by_account ON api_keys (account_id, id);
-- Every existing account's one key becomes its first key, with every scope.
INSERT INTO api_keys (id, account_id, name, scopes, prefix, key_hash, created_at)
  SELECT 'key_' || substr(id, 5), id, 'Default key', '["publish","read","manage","keys"]',
         'rzk_', api_key_hash, created_at
  FROM accounts;
ALTER TABLE accounts DROP COLUMN api_key_hash;

CREATE TABLE portal_sessions (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  token_hash text NOT NULL UNIQUE,
  read_only boolean NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX portal_sessions_by_account ON portal_sessions (account_id);
CREATE INDEX portal_sessions_by_expiry ON portal_sessions (expires_at);

CREATE TABLE audit_log (
  id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  at bigint NOT NULL,
  actor_type text NOT NULL,
  actor_id text,
  action text NOT NULL,
  target_id text NOT NULL,
  changes jsonb NOT NULL
);
CREATE INDEX audit_log_by_account ON audit_log (account_id, id);
CREATE INDEX audit_log_by_at ON audit_log (at);
`,
  },
  {
    // 5 and 6 belong to other branches; the runner applies what is missing by version.
    version: 7,
    name: 'ordered delivery per key',
    sql: `
-- SPEC §10: 'none' or 'per_key'
ALTER TABLE webhooks ADD COLUMN ordering text NOT NULL DEFAULT 'none';
-- On a per_key webhook (storage/ordering.ts): 'head', the one delivery of its key that may be
-- due, or 'waiting' (off the due index until the head finishes); NULL: not in an order
ALTER TABLE deliveries ADD COLUMN order_state text;
-- acceptance order within the key, assigned under the publish transaction's lock
ALTER TABLE deliveries ADD COLUMN order_seq bigint;
-- one seek finds a key's head, its next waiting delivery, or its highest seq
CREATE INDEX deliveries_ordered ON deliveries (webhook_id, ordering_key, order_state, order_seq)
  WHERE order_state IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'indexes in step with SQLite',
    sql: `
-- The claims count an endpoint's live leases (due_at > now): with due_at in the index the
-- count reads the index alone, as SQLite's covering index does.
DROP INDEX deliveries_leased;
CREATE INDEX deliveries_leased ON deliveries (webhook_id, due_at) WHERE lease_token IS NOT NULL;
-- Nothing reads attempts by start time (the purge goes by the delivery's age): one index less
-- to write per attempt.
DROP INDEX attempts_by_started;
`,
  },
  {
    version: 9,
    name: 'due deliveries by endpoint',
    sql: `
-- The claim walks each account's endpoints and reads only those with room (postgres/claim.ts),
-- as SQLite's does: an endpoint at its cap costs one probe, where holding its backlog off the
-- due index cost a write per delivery and a sweep to bring it back. Held rows go back to due,
-- at their old place in due order.
UPDATE deliveries SET held = false, due_at = coalesce(next_attempt_at, created_at)
  WHERE held AND due_at IS NULL;
DROP INDEX deliveries_held;
DROP INDEX deliveries_due_by_account;
CREATE INDEX deliveries_due_by_endpoint ON deliveries (account_id, webhook_id, due_at)
  WHERE due_at IS NOT NULL;
-- Nothing reads the due index in global due order any more (nextDueAt and the queue figures
-- walk the one by endpoint): one B-tree less to write at publish, lease and completion.
DROP INDEX deliveries_due;
`,
  },
  {
    version: 10,
    name: 'the delivery queue apart from the history',
    sql: `
-- When each delivery is next to be picked up, and its lease (postgres/queue.ts), in a narrow
-- table of their own: a lease rewrote the whole delivery, a new version of it with an entry
-- in each of its nine indexes (pg_stat_statements, bench: the claim's write 12.6 WAL records
-- and 95 us a delivery, 4.9 and 23 us here), where here it writes this row and its two small
-- indexes. A row is here while its delivery is scheduled or leased, and goes when the delivery
-- finishes.
CREATE TABLE delivery_queue (
  delivery_id text COLLATE "C" PRIMARY KEY,
  account_id text COLLATE "C" NOT NULL,
  webhook_id text COLLATE "C",
  -- as deliveries.due_at was: the next attempt, a manual retry, or the end of a lease; NULL:
  -- nothing to do now (its endpoint or account is off, or it waits in a key's order)
  due_at bigint,
  lease_token text
);
CREATE INDEX delivery_queue_due ON delivery_queue (account_id, webhook_id, due_at)
  WHERE due_at IS NOT NULL;
CREATE INDEX delivery_queue_leased ON delivery_queue (webhook_id, due_at)
  WHERE lease_token IS NOT NULL;
INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at, lease_token)
  SELECT id, account_id, webhook_id, due_at, lease_token FROM deliveries
  WHERE due_at IS NOT NULL OR lease_token IS NOT NULL;
DROP INDEX deliveries_due_by_endpoint;
DROP INDEX deliveries_leased;
ALTER TABLE deliveries DROP COLUMN due_at, DROP COLUMN lease_token;
`,
  },
  {
    version: 11,
    name: 'a completion as a heap-only update',
    sql: `
-- tail finds an account's changes by the ids of new deliveries and by the attempts recorded
-- after a cursor (listDeliveryChanges), no longer by the deliveries' updated_at.
DROP INDEX deliveries_by_account_updated;
DROP INDEX attempts_by_webhook;
CREATE INDEX attempts_by_webhook ON attempts (webhook_id, seq);
-- Every pending delivery has a row in the queue (postgres/queue.ts), and an endpoint's are
-- found there, so no index of deliveries reads its status. A completion then changes no
-- indexed column of the delivery and, with room left in its page, PostgreSQL writes the new
-- version beside the old with no new index entries (a heap-only update). Pages filled to half
-- leave room for each row's new version: 98 % of the bench's completions were heap-only (46-53 %
-- at 80, none before), and deliveries a second rose 13-20 % over four runs in turn (5-13 % at
-- 80). The price: the deliveries' own pages take about twice the space of their rows.
INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at)
  SELECT d.id, d.account_id, d.webhook_id, NULL FROM deliveries d
  WHERE (d.status = 'pending' OR d.manual_requested)
    AND NOT EXISTS (SELECT 1 FROM delivery_queue x WHERE x.delivery_id = d.id);
-- Those not due, by endpoint (the due ones are in delivery_queue_due): a lease, from due to due,
-- writes no entry here.
CREATE INDEX delivery_queue_parked ON delivery_queue (webhook_id) WHERE due_at IS NULL;
DROP INDEX deliveries_pending;
ALTER TABLE deliveries SET (fillfactor = 50);
`,
  },
  {
    version: 12,
    name: 'a statement that undoes itself',
    sql: `
-- A statement that may commit only when it turns out to be the whole of its work ends itself
-- with this error otherwise, its writes undone with it, and its caller does the work in a
-- transaction instead (postgres/complete.ts: a completion that is one round trip where a
-- transaction is three). A function, as SQL has no statement that raises; volatile, so it runs
-- only where it is reached (CASE), not while the statement is planned.
CREATE FUNCTION rizler_undo(reason text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'RZ001', MESSAGE = reason;
END $$;
`,
  },
  {
    version: 13,
    name: "a key's order in the delivery queue",
    sql: `
-- Where each delivery stands in its key's order (postgres/ordering.ts) moves to its row in
-- the queue, which is there exactly while the delivery is pending: the order's state changes
-- twice a delivery (waiting to head, then out), and on the delivery's row each change, of a
-- column the ordered index reads, wrote a new version with an entry in each of its indexes.
-- Here the promotion writes the narrow queue row, and a finished delivery leaves its order
-- with its queue row, which the completion deletes anyway.
ALTER TABLE delivery_queue ADD COLUMN ordering_key text COLLATE "C",
  ADD COLUMN order_state text, ADD COLUMN order_seq bigint;
UPDATE delivery_queue x SET ordering_key = d.ordering_key, order_state = d.order_state,
  order_seq = d.order_seq
  FROM deliveries d WHERE d.id = x.delivery_id AND d.order_state IS NOT NULL;
-- one seek finds a key's head, its next waiting delivery, or its highest seq
CREATE INDEX delivery_queue_ordered ON delivery_queue (webhook_id, ordering_key, order_state,
  order_seq) WHERE order_state IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN order_state, DROP COLUMN order_seq;
`,
  },
];
