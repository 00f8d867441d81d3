import { useEffect, useState } from 'react';
import { query } from '../api/client.js';
import type { Delivery, DeliveryStatus, List, Webhook } from '../api/types.js';
import { useSession } from '../app/context.js';
import { formatDuration, formatStatusCode } from '../app/format.js';
import { navigate } from '../app/router.js';
import { useResource } from '../app/useResource.js';
import { DeliveryStatusBadge } from '../components/Badges.js';
import { Dialog } from '../components/Dialog.js';
import { EventTypeSelect } from '../components/EventTypeSelect.js';
import { Field } from '../components/Field.js';
import { EmptyState, Loaded } from '../components/States.js';
import { RelativeTime } from '../components/Time.js';
import { DeliveryView } from './DeliveryView.js';

const PAGE_SIZE = 25;
// New deliveries and retries show up while the log is open.
const POLL_MS = 4000;

const STATUSES: { value: '' | DeliveryStatus; label: string }[] = [
  { value: '', label: 'All statuses' },
  { value: 'succeeded', label: 'Succeeded' },
  { value: 'failed', label: 'Failed' },
  { value: 'pending', label: 'Pending' },
];

export function LogsTab({ webhook, openDelivery }: { webhook: Webhook; openDelivery?: string }) {
  const { api, eventTypes } = useSession();
  const [status, setStatus] = useState<'' | DeliveryStatus>('');
  const [event, setEvent] = useState('');
  // Cursors of the pages seen so far: the last one is the current page.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const [selected, setSelected] = useState<string | null>(openDelivery ?? null);

  useEffect(() => {
    if (openDelivery) setSelected(openDelivery);
  }, [openDelivery]);

  const list = useResource(
    `deliveries:${webhook.id}:${status}:${event}:${cursor ?? ''}`,
    (signal) =>
      api.get<List<Delivery>>(
        `/v1/deliveries${query({ webhook_id: webhook.id, status, event, limit: PAGE_SIZE, cursor })}`,
        signal,
      ),
    { pollMs: POLL_MS },
  );

  const filter = (apply: () => void) => {
    apply();
    setCursors([null]);
  };
  const close = () => {
    setSelected(null);
    if (openDelivery) navigate({ name: 'webhook', id: webhook.id, tab: 'logs' }, { replace: true });
  };
  const filtered = status !== '' || event !== '';

  return (
    <section aria-labelledby="logs-title">
      <div className="section-header">
        <h2 id="logs-title" className="section-title">
          Delivery logs
        </h2>
        <p className="muted small">Newest first · refreshes every few seconds</p>
      </div>
      <div className="filters" role="group" aria-label="Filters">
        <Field label="Status">
          {(control) => (
            <select
              {...control}
              className="select"
              value={status}
              onChange={(change) =>
                filter(() => setStatus(change.target.value as '' | DeliveryStatus))
              }
            >
              {STATUSES.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Event type">
          {(control) => (
            <EventTypeSelect
              types={eventTypes.data ?? []}
              value={event}
              onChange={(value) => filter(() => setEvent(value))}
              control={control}
              includeAll="All event types"
            />
          )}
        </Field>
        {filtered && (
          <button
            type="button"
            className="button button-ghost"
            onClick={() =>
              filter(() => {
                setStatus('');
                setEvent('');
              })
            }
          >
            Clear filters
          </button>
        )}
      </div>

      <Loaded
        resource={list}
        loading="Loading deliveries…"
        failed="Could not load the deliveries"
        empty={(data) =>
          data.data.length === 0 && (
            <EmptyState
              title={filtered ? 'No deliveries match these filters' : 'No deliveries yet'}
            >
              {filtered ? (
                <p>Change or clear the filters to see more.</p>
              ) : (
                <p>
                  Deliveries appear here when an event this endpoint subscribes to is published, or
                  when you send a test from the Overview tab.
                </p>
              )}
            </EmptyState>
          )
        }
      >
        {(data) => <DeliveryTable deliveries={data.data} onOpen={setSelected} />}
      </Loaded>

      <nav className="pagination" aria-label="Pages of deliveries">
        <button
          type="button"
          className="button button-secondary"
          disabled={cursors.length <= 1}
          onClick={() => setCursors((previous) => previous.slice(0, -1))}
        >
          Previous page
        </button>
        <span className="muted small">Page {cursors.length}</span>
        <button
          type="button"
          className="button button-secondary"
          disabled={!list.data?.next_cursor}
          onClick={() => {
            const next = list.data?.next_cursor;
            if (next) setCursors((previous) => [...previous, next]);
          }}
        >
          Next page
        </button>
      </nav>

      {selected && (
        <Dialog title="Delivery details" size="large" onClose={close}>
          <DeliveryView id={selected} onChanged={list.reload} />
        </Dialog>
      )}
    </section>
  );
}

function DeliveryTable({
  deliveries,
  onOpen,
}: {
  deliveries: Delivery[];
  onOpen: (id: string) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table logs-table">
        <caption className="visually-hidden">
          Deliveries, newest first. Choose an event type to see its attempts.
        </caption>
        <thead>
          <tr>
            <th scope="col">Event type</th>
            <th scope="col">Status</th>
            <th scope="col">Response</th>
            <th scope="col" className="numeric">
              Response time
            </th>
            <th scope="col" className="numeric">
              Attempts
            </th>
            <th scope="col">Time</th>
            <th scope="col">Next retry</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((delivery) => (
            <tr key={delivery.id} className="row-clickable" onClick={() => onOpen(delivery.id)}>
              <td>
                <button
                  type="button"
                  className="link-button"
                  onClick={(click) => {
                    click.stopPropagation();
                    onOpen(delivery.id);
                  }}
                  aria-label={`${delivery.event}, delivery ${delivery.id}: details`}
                >
                  {delivery.event}
                </button>
                {delivery.test && <span className="badge badge-info badge-small">Test</span>}
              </td>
              <td>
                <DeliveryStatusBadge status={delivery.status} />
              </td>
              <td>
                {delivery.attempt_count === 0 ? (
                  <span className="muted">Not sent yet</span>
                ) : (
                  formatStatusCode(delivery.last_status_code)
                )}
                {delivery.last_error && (
                  <div className="cell-sub error-text truncate" title={delivery.last_error}>
                    {delivery.last_error}
                  </div>
                )}
              </td>
              <td className="numeric">{formatDuration(delivery.last_duration_ms)}</td>
              <td className="numeric">{delivery.attempt_count}</td>
              <td>
                <RelativeTime iso={delivery.created_at} />
              </td>
              <td>
                {delivery.status === 'pending' && delivery.next_attempt_at ? (
                  <RelativeTime iso={delivery.next_attempt_at} />
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
