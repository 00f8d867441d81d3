import { useEffect, useId, useState } from 'react';
import type { List, Webhook, WebhookStatsItem } from '../api/types.js';
import { useSession } from '../app/context.js';
import { formatDuration, formatPercent } from '../app/format.js';
import { href } from '../app/router.js';
import { type Resource, useResource } from '../app/useResource.js';
import { EventChips, WebhookStatusBadge } from '../components/Badges.js';
import { Breadcrumbs } from '../components/Breadcrumbs.js';
import { EmptyState, Loaded } from '../components/States.js';
import { RelativeTime } from '../components/Time.js';
import { WebhookFormDialog } from './WebhookFormDialog.js';

async function listAllWebhooks(
  get: <T>(path: string, signal?: AbortSignal) => Promise<T>,
  signal: AbortSignal,
): Promise<Webhook[]> {
  const all: Webhook[] = [];
  let cursor: string | null = null;
  // The endpoint limit keeps this to one page in practice; follow cursors anyway.
  for (let page = 0; page < 20; page += 1) {
    const query: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
    const result: List<Webhook> = await get<List<Webhook>>(`/v1/webhooks${query}`, signal);
    all.push(...result.data);
    cursor = result.next_cursor;
    if (!cursor) break;
  }
  return all;
}

/** Every endpoint's 24 h figures in one request (a page holds up to 100 endpoints). */
async function listAllStats(
  get: <T>(path: string, signal?: AbortSignal) => Promise<T>,
  signal: AbortSignal,
): Promise<Map<string, WebhookStatsItem>> {
  const all = new Map<string, WebhookStatsItem>();
  let cursor: string | null = null;
  for (let page = 0; page < 20; page += 1) {
    const query: string = cursor
      ? `?window=24h&limit=100&cursor=${encodeURIComponent(cursor)}`
      : '?window=24h&limit=100';
    const result: List<WebhookStatsItem> = await get<List<WebhookStatsItem>>(
      `/v1/webhooks/stats${query}`,
      signal,
    );
    for (const item of result.data) all.set(item.webhook_id, item);
    cursor = result.next_cursor;
    if (!cursor) break;
  }
  return all;
}

export function WebhooksPage() {
  const { api, account, refreshAccount, notify, canManage } = useSession();
  const [adding, setAdding] = useState(false);
  const limitHintId = useId();
  const webhooks = useResource('webhooks', (signal) => listAllWebhooks(api.get, signal), {
    pollMs: 30_000,
  });

  // The usage line follows the list: another tab or a script may add or delete endpoints.
  const count = webhooks.data?.length;
  useEffect(() => {
    refreshAccount();
  }, [count, refreshAccount]);

  const used = account.usage.endpoints;
  const max = account.limits.max_endpoints;
  const atLimit = used >= max;

  return (
    <>
      <Breadcrumbs items={[{ label: 'Setup' }, { label: 'Webhooks' }]} />
      <div className="page-header">
        <div>
          <h1 id="page-title" tabIndex={-1}>
            Webhooks
          </h1>
          <p className="page-lead">
            Endpoints that receive signed HTTP notifications when calls start and end, agents change
            status, and recordings or transcripts are ready.
          </p>
        </div>
        {canManage && (
          <div className="page-actions">
            <button
              type="button"
              className="button button-primary"
              onClick={() => setAdding(true)}
              disabled={atLimit}
              aria-describedby={limitHintId}
            >
              Add Webhook
            </button>
          </div>
        )}
      </div>

      <div className={`usage${atLimit ? ' usage-full' : ''}`} id={limitHintId}>
        <div className="usage-text">
          <strong>
            {used} of {max} endpoints used
          </strong>
          {atLimit && (
            <span> — the account's limit is reached. Delete an endpoint to add another.</span>
          )}
        </div>
        <div
          className="meter"
          role="meter"
          aria-label="Endpoints used"
          aria-valuemin={0}
          aria-valuemax={max}
          aria-valuenow={used}
        >
          <div
            className="meter-fill"
            style={{ width: `${Math.min(100, (used / Math.max(1, max)) * 100)}%` }}
          />
        </div>
      </div>

      <Loaded
        resource={webhooks}
        loading="Loading webhooks…"
        failed="Could not load the webhooks"
        empty={(data) =>
          data.length === 0 && (
            <EmptyState title="No webhooks yet">
              <p>
                Choose <strong>Add Webhook</strong> to register an endpoint. To try a URL before
                saving it, use <strong>Test endpoint</strong> under Setup.
              </p>
            </EmptyState>
          )
        }
      >
        {(data) => <WebhookTable webhooks={data} />}
      </Loaded>

      {adding && (
        <WebhookFormDialog
          onClose={() => setAdding(false)}
          onSaved={(webhook) => {
            setAdding(false);
            notify(`Webhook created for ${webhook.url}.`);
            webhooks.reload();
            refreshAccount();
          }}
        />
      )}
    </>
  );
}

function WebhookTable({ webhooks }: { webhooks: Webhook[] }) {
  const { api } = useSession();
  // Reloaded when an endpoint is added, removed or changed, and every 30 s.
  const version = webhooks.map((w) => `${w.id}:${w.updated_at}`).join(',');
  const stats = useResource(`stats:24h:${version}`, (signal) => listAllStats(api.get, signal), {
    pollMs: 30_000,
  });
  return (
    <div className="table-wrap">
      <table className="table table-cards">
        <caption className="visually-hidden">
          Webhooks, with delivery statistics over the last 24 hours
        </caption>
        <thead>
          <tr>
            <th scope="col">URL</th>
            <th scope="col">Events</th>
            <th scope="col">Status</th>
            <th scope="col" className="numeric">
              Success rate <span className="th-note">24 h</span>
            </th>
            <th scope="col" className="numeric">
              p95 response <span className="th-note">24 h</span>
            </th>
            <th scope="col">Last delivery</th>
          </tr>
        </thead>
        <tbody>
          {webhooks.map((webhook) => (
            <WebhookRow key={webhook.id} webhook={webhook} stats={stats} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function WebhookRow({
  webhook,
  stats: all,
}: {
  webhook: Webhook;
  stats: Resource<Map<string, WebhookStatsItem>>;
}) {
  const stats = { data: all.data?.get(webhook.id), error: all.error };
  const statCell = (value: string) =>
    stats.data ? (
      value
    ) : stats.error ? (
      <span className="muted" title={stats.error.message}>
        n/a
      </span>
    ) : (
      <span className="muted">…</span>
    );
  return (
    <tr>
      <td data-label="URL" className="cell-primary">
        <a href={href({ name: 'webhook', id: webhook.id, tab: 'overview' })} className="url-link">
          {webhook.url}
        </a>
        {webhook.description && <div className="cell-sub">{webhook.description}</div>}
      </td>
      <td data-label="Events">
        <EventChips events={webhook.events} />
      </td>
      <td data-label="Status">
        <WebhookStatusBadge webhook={webhook} />
      </td>
      <td data-label="Success rate (24 h)" className="numeric">
        {statCell(stats.data?.deliveries ? formatPercent(stats.data.success_rate) : '—')}
      </td>
      <td data-label="p95 response (24 h)" className="numeric">
        {statCell(formatDuration(stats.data?.response_time_ms.p95))}
      </td>
      <td data-label="Last delivery">
        {stats.data ? (
          <RelativeTime iso={stats.data.last_delivery_at} fallback="None yet" />
        ) : (
          statCell('')
        )}
      </td>
    </tr>
  );
}
