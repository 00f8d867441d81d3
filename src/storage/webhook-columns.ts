// A webhook's column values as both engines write them: a new endpoint's, and an endpoint's
// after a patch (given fields change, absent ones stay, null clears). JSON columns are
// written as JSON text; SQLite stores it as it is, PostgreSQL casts it. Pure: no I/O.
import type { Ordering } from './ordering.js';
import type { DisabledReason, NewWebhook, Webhook, WebhookPatch, WebhookStatus } from './types.js';

export interface WebhookColumns {
  url: string;
  description: string | null;
  /** JSON. */
  events: string;
  status: WebhookStatus;
  disabledReason: DisabledReason | null;
  rateLimitPerMinute: number | null;
  sealedSecret: string;
  /** JSON. */
  headers: string;
  /** JSON, or null for no filter. */
  filter: string | null;
  ordering: Ordering;
}

/** A new endpoint's columns: created disabled, it is disabled by its owner ('manual'). */
export function newWebhookColumns(w: NewWebhook): WebhookColumns {
  return {
    url: w.url,
    description: w.description,
    events: JSON.stringify(w.events),
    status: w.status,
    disabledReason: w.status === 'disabled' ? 'manual' : null,
    rateLimitPerMinute: w.rateLimitPerMinute,
    sealedSecret: w.sealedSecret,
    headers: JSON.stringify(w.headers ?? {}),
    filter: w.filter ? JSON.stringify(w.filter) : null,
    ordering: w.ordering ?? 'none',
  };
}

export interface PatchedWebhook extends WebhookColumns {
  /** The status moved (the endpoint's deliveries park or come back, an event is published). */
  statusChanged: boolean;
  /** The ordering changed (every pending delivery is placed again, ordering.ts). */
  reordered: boolean;
  /** Deliveries may be due now: it was enabled, or its order placed them again. */
  wakes: boolean;
}

/**
 * The endpoint's columns after `patch`. Enabled, it has no disabled reason; disabled by this
 * patch, the reason is 'manual'; left disabled, it keeps the reason it had ('failing', 'gone').
 */
export function patchedWebhook(before: Webhook, patch: WebhookPatch): PatchedWebhook {
  const status = patch.status ?? before.status;
  const filter = patch.filter !== undefined ? patch.filter : before.filter;
  const ordering = patch.ordering ?? before.ordering;
  const statusChanged = status !== before.status;
  const reordered = patch.ordering !== undefined && patch.ordering !== before.ordering;
  return {
    url: patch.url ?? before.url,
    description: patch.description !== undefined ? patch.description : before.description,
    events: JSON.stringify(patch.events ?? before.events),
    status,
    disabledReason:
      status === 'enabled' ? null : patch.status === 'disabled' ? 'manual' : before.disabledReason,
    rateLimitPerMinute:
      patch.rateLimitPerMinute !== undefined ? patch.rateLimitPerMinute : before.rateLimitPerMinute,
    sealedSecret: patch.sealedSecret ?? before.sealedSecret,
    headers: JSON.stringify(patch.headers ?? before.headers),
    filter: filter === null ? null : JSON.stringify(filter),
    ordering,
    statusChanged,
    reordered,
    wakes: (statusChanged && status === 'enabled') || reordered,
  };
}
