import { useEffect, useRef, useState } from 'react';
import { toApiError } from '../api/client.js';
import type { Attempt, AttemptTrigger, Delivery, DeliveryDetail } from '../api/types.js';
import { useSession } from '../app/context.js';
import { formatDuration, formatStatusCode, isSuccessCode, prettyBody } from '../app/format.js';
import { href } from '../app/router.js';
import { useResource } from '../app/useResource.js';
import { DeliveryStatusBadge } from '../components/Badges.js';
import { Fact } from '../components/Fact.js';
import { ResponseBody } from '../components/ResponseBody.js';
import { ActionStatus, ResourceFallback, StaleNotice } from '../components/States.js';
import { AbsoluteTime, RelativeTime } from '../components/Time.js';

// After a manual retry the new attempt usually lands within a second or two: poll fast for
// a while so it appears without a reload, then fall back to a calmer pace.
const FAST_POLL_MS = 1000;
const FAST_POLL_FOR_MS = 10_000;
const POLL_MS = 3000;

const TRIGGERS: Record<AttemptTrigger, string> = {
  auto: 'Automatic',
  manual: 'Manual retry',
  test: 'Test send',
};

interface DeliveryViewProps {
  id: string;
  /** Called when the delivery changed (a retry, a new attempt), so a list can refresh. */
  onChanged?: () => void;
  /** Heading level of the view's sections: 3 inside a dialog, 2 on a page. */
  level?: 2 | 3;
  showWebhookLink?: boolean;
}

export function DeliveryView({ id, onChanged, level = 3, showWebhookLink }: DeliveryViewProps) {
  const { api, canManage } = useSession();
  const [fastUntil, setFastUntil] = useState(0);
  const fast = fastUntil > Date.now();
  const detail = useResource(
    `delivery:${id}`,
    (signal) => api.get<DeliveryDetail>(`/v1/deliveries/${encodeURIComponent(id)}`, signal),
    { pollMs: fast ? FAST_POLL_MS : POLL_MS },
  );
  const [retrying, setRetrying] = useState(false);
  const [retryNotice, setRetryNotice] = useState('');
  const [retryError, setRetryError] = useState<string | null>(null);

  // Tell the list when something about this delivery moved.
  const fingerprint = detail.data
    ? `${detail.data.status}:${detail.data.attempt_count}:${detail.data.updated_at}`
    : null;
  const lastFingerprint = useRef<string | null>(null);
  const onChangedRef = useRef(onChanged);
  onChangedRef.current = onChanged;
  useEffect(() => {
    if (fingerprint === null) return;
    if (lastFingerprint.current !== null && lastFingerprint.current !== fingerprint) {
      onChangedRef.current?.();
    }
    lastFingerprint.current = fingerprint;
  }, [fingerprint]);

  const attemptsBeforeRetry = useRef<number | null>(null);
  useEffect(() => {
    if (attemptsBeforeRetry.current === null || !detail.data) return;
    if (detail.data.attempts.length > attemptsBeforeRetry.current) {
      attemptsBeforeRetry.current = null;
      const latest = detail.data.attempts[detail.data.attempts.length - 1];
      setRetryNotice(
        latest && isSuccessCode(latest.status_code) && !latest.error
          ? `The retry succeeded: ${formatStatusCode(latest.status_code)}.`
          : `The retry failed${latest ? `: ${latest.error ?? formatStatusCode(latest.status_code)}` : ''}.`,
      );
    }
  }, [detail.data]);

  if (!detail.data) {
    return (
      <ResourceFallback
        resource={detail}
        loading="Loading the delivery…"
        failed="Could not load the delivery"
      />
    );
  }

  const delivery = detail.data;
  const Heading = `h${level}` as 'h2' | 'h3';

  const retry = async () => {
    setRetrying(true);
    setRetryError(null);
    setRetryNotice('');
    attemptsBeforeRetry.current = delivery.attempts.length;
    try {
      await api.post<Delivery>(`/v1/deliveries/${encodeURIComponent(delivery.id)}/retry`, {});
      setRetryNotice('Retry queued. The new attempt appears below in a moment.');
      setFastUntil(Date.now() + FAST_POLL_FOR_MS);
      detail.reload();
      onChangedRef.current?.();
    } catch (caught) {
      attemptsBeforeRetry.current = null;
      setRetryError(toApiError(caught).message);
    } finally {
      setRetrying(false);
    }
  };

  const attempts = [...delivery.attempts].sort((a, b) => b.attempt - a.attempt);
  return (
    <div className="delivery-view">
      <StaleNotice error={detail.error} />
      <div className="delivery-summary">
        <dl className="facts">
          <Fact term="Status">
            <DeliveryStatusBadge status={delivery.status} />
            {delivery.test && <span className="badge badge-info badge-small">Test</span>}
          </Fact>
          <Fact term="Event type">
            <code>{delivery.event}</code>
          </Fact>
          {delivery.ordering_key != null && (
            <Fact term="Ordering key">
              <code>{delivery.ordering_key}</code>
            </Fact>
          )}
          {delivery.waiting_for != null && (
            <Fact term="Waiting for">
              <a href={href({ name: 'delivery', id: delivery.waiting_for })}>
                <code>{delivery.waiting_for}</code>
              </a>
              <span className="muted">
                {' '}
                — sent once that delivery, ahead of it in its key, succeeds or fails for good
              </span>
            </Fact>
          )}
          <Fact term="Attempts">{delivery.attempt_count}</Fact>
          <Fact term="Last response">
            {delivery.attempt_count === 0 ? '—' : formatStatusCode(delivery.last_status_code)}
            {delivery.last_duration_ms != null && (
              <span className="muted"> in {formatDuration(delivery.last_duration_ms)}</span>
            )}
          </Fact>
          <Fact term="Created">
            <AbsoluteTime iso={delivery.created_at} />
          </Fact>
          <Fact term="Next retry">
            {delivery.status === 'pending' && delivery.next_attempt_at ? (
              <RelativeTime iso={delivery.next_attempt_at} />
            ) : (
              <span className="muted">None scheduled</span>
            )}
          </Fact>
          {delivery.url && (
            <Fact term="Endpoint URL" wide className="break">
              {delivery.url}
            </Fact>
          )}
          <Fact term="IDs" wide className="ids">
            <code>{delivery.id}</code> · event <code>{delivery.event_id}</code>
          </Fact>
        </dl>
        <div className="delivery-actions">
          {canManage && (
            <button
              type="button"
              className="button button-primary"
              onClick={retry}
              disabled={retrying || !delivery.webhook_id}
              aria-describedby={delivery.webhook_id ? undefined : `${delivery.id}-no-retry`}
            >
              {retrying ? 'Retrying…' : 'Retry'}
            </button>
          )}
          {canManage && !delivery.webhook_id && (
            <span id={`${delivery.id}-no-retry`} className="muted small">
              Sent to a URL that is not a saved webhook: send a new test instead.
            </span>
          )}
          {showWebhookLink && delivery.webhook_id && (
            <a href={href({ name: 'webhook', id: delivery.webhook_id, tab: 'logs' })}>
              All deliveries of this webhook
            </a>
          )}
        </div>
        <ActionStatus status={retryNotice} error={retryError} />
      </div>

      <section aria-labelledby={`${delivery.id}-history`} className="delivery-section">
        <Heading id={`${delivery.id}-history`} className="section-title">
          Retry history
        </Heading>
        <ol className="timeline" aria-label="Attempts, newest first">
          {delivery.status === 'pending' && delivery.next_attempt_at && (
            <li className="timeline-item timeline-next">
              <p className="attempt-title">
                Attempt {delivery.attempt_count + 1}: due{' '}
                <RelativeTime iso={delivery.next_attempt_at} />
              </p>
              <p className="muted">
                Scheduled for <AbsoluteTime iso={delivery.next_attempt_at} />
              </p>
            </li>
          )}
          {attempts.map((attempt) => (
            <AttemptItem key={attempt.attempt} attempt={attempt} />
          ))}
          {attempts.length === 0 &&
            !(delivery.status === 'pending' && delivery.next_attempt_at) && (
              <li className="timeline-item">
                <p className="muted">No attempt yet.</p>
              </li>
            )}
        </ol>
        {delivery.status === 'failed' && (
          <p className="muted">Automatic retries are over. Choose Retry to send it once more.</p>
        )}
      </section>

      <section aria-labelledby={`${delivery.id}-request`} className="delivery-section">
        <Heading id={`${delivery.id}-request`} className="section-title">
          Request
        </Heading>
        {delivery.request ? (
          <>
            <p className="body-label">Headers</p>
            <div className="table-wrap">
              <table className="table table-compact headers-table">
                <tbody>
                  {Object.entries(delivery.request.headers).map(([name, value]) => (
                    <tr key={name}>
                      <th scope="row">{name}</th>
                      <td>
                        <code className="break">{value}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <p className="body-label">Body</p>
            <pre className="code-block" tabIndex={0}>
              {prettyBody(delivery.request.body)}
            </pre>
          </>
        ) : (
          <p className="muted">The request is not available.</p>
        )}
      </section>
    </div>
  );
}

function AttemptItem({ attempt }: { attempt: Attempt }) {
  const ok = isSuccessCode(attempt.status_code) && !attempt.error;
  return (
    <li className={`timeline-item ${ok ? 'timeline-success' : 'timeline-failure'}`}>
      <div className="attempt-header">
        <p className="attempt-title">
          <span>Attempt {attempt.attempt}</span>
          <span className="badge badge-neutral badge-small">
            {TRIGGERS[attempt.trigger] ?? attempt.trigger}
          </span>
        </p>
        <span className={`badge ${ok ? 'badge-success' : 'badge-danger'}`}>
          <span className="badge-dot" aria-hidden="true" />
          {ok ? 'Succeeded' : 'Failed'}
        </span>
      </div>
      <dl className="facts facts-inline">
        <Fact term="Time">
          <AbsoluteTime iso={attempt.started_at} />
        </Fact>
        <Fact term="Status code">{formatStatusCode(attempt.status_code)}</Fact>
        <Fact term="Duration">{formatDuration(attempt.duration_ms)}</Fact>
      </dl>
      {attempt.error && (
        <p className="error-text">
          <span className="label-inline">Error:</span> {attempt.error}
        </p>
      )}
      <ResponseBody body={attempt.response_body} short />
    </li>
  );
}
