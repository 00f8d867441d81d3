import type { DeliveryStatus, Webhook } from '../api/types.js';

const DELIVERY_LABELS: Record<DeliveryStatus, string> = {
  succeeded: 'Succeeded',
  failed: 'Failed',
  pending: 'Pending',
};

const DELIVERY_TONES: Record<DeliveryStatus, string> = {
  succeeded: 'success',
  failed: 'danger',
  pending: 'warning',
};

export function DeliveryStatusBadge({ status }: { status: DeliveryStatus }) {
  return (
    <span className={`badge badge-${DELIVERY_TONES[status] ?? 'neutral'}`}>
      <span className="badge-dot" aria-hidden="true" />
      {DELIVERY_LABELS[status] ?? status}
    </span>
  );
}

const REASON_TEXT: Record<string, string> = {
  manual: 'Disabled',
  failing: 'Disabled: failing',
  gone: 'Disabled: 410 Gone',
};

export function WebhookStatusBadge({
  webhook,
}: {
  webhook: Pick<Webhook, 'status' | 'disabled_reason'>;
}) {
  if (webhook.status === 'enabled') {
    return (
      <span className="badge badge-success">
        <span className="badge-dot" aria-hidden="true" />
        Enabled
      </span>
    );
  }
  const text = (webhook.disabled_reason && REASON_TEXT[webhook.disabled_reason]) || 'Disabled';
  return (
    <span
      className={`badge ${webhook.disabled_reason && webhook.disabled_reason !== 'manual' ? 'badge-danger' : 'badge-neutral'}`}
    >
      <span className="badge-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function disabledReasonText(
  webhook: Pick<Webhook, 'status' | 'disabled_reason'>,
): string | null {
  if (webhook.status !== 'disabled') return null;
  switch (webhook.disabled_reason) {
    case 'failing':
      return 'Rizler disabled this endpoint because every delivery to it failed for 24 hours. Fix the endpoint, then enable it again: waiting deliveries resume.';
    case 'gone':
      return 'Rizler disabled this endpoint because it answered 410 Gone. Enable it again when it should receive events.';
    default:
      return 'This endpoint is disabled: it receives no new events until it is enabled.';
  }
}

export function EventChips({ events, max = 3 }: { events: string[]; max?: number }) {
  const shown = events.slice(0, max);
  const hidden = events.length - shown.length;
  return (
    <ul className="chips" aria-label="Subscribed events">
      {shown.map((event) => (
        <li key={event} className="chip">
          {event === '*' ? 'All events' : event}
        </li>
      ))}
      {hidden > 0 && (
        <li className="chip chip-more" title={events.slice(max).join(', ')}>
          +{hidden} more
        </li>
      )}
    </ul>
  );
}
