import { type FormEvent, useState } from 'react';
import { type ApiError, toApiError } from '../api/client.js';
import type { TestResult, Webhook } from '../api/types.js';
import { useSession } from '../app/context.js';
import { href } from '../app/router.js';
import { EventTypeSelect, defaultTestEvent } from '../components/EventTypeSelect.js';
import { Field } from '../components/Field.js';
import { ErrorMessage, Loading } from '../components/States.js';
import { TestSendStatus } from '../testing/TestResultView.js';

export function SendTestPanel({ webhook }: { webhook: Webhook }) {
  const { api, eventTypes } = useSession();
  const [event, setEvent] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const chosen = event ?? defaultTestEvent(eventTypes.data);

  const send = async (formEvent: FormEvent) => {
    formEvent.preventDefault();
    setSending(true);
    setError(null);
    setResult(null);
    try {
      setResult(
        await api.post<TestResult>(`/v1/webhooks/${encodeURIComponent(webhook.id)}/test`, {
          event: chosen,
        }),
      );
    } catch (caught) {
      setError(toApiError(caught));
    } finally {
      setSending(false);
    }
  };

  return (
    <section className="card" aria-labelledby="send-test-title">
      <h2 id="send-test-title" className="card-title">
        Send a test event
      </h2>
      <p className="card-lead">
        Sends the catalogue example of an event type to this endpoint now, signed like any delivery.
        It is attempted once, without retries, and listed in the logs.
      </p>
      {eventTypes.error && !eventTypes.data ? (
        <ErrorMessage
          title="Could not load the event types"
          error={eventTypes.error}
          onRetry={eventTypes.reload}
        />
      ) : !eventTypes.data ? (
        <Loading label="Loading event types…" />
      ) : (
        <form className="inline-form" onSubmit={send}>
          <Field label="Test event type">
            {(control) => (
              <EventTypeSelect
                types={eventTypes.data ?? []}
                value={chosen}
                onChange={setEvent}
                control={control}
              />
            )}
          </Field>
          <button type="submit" className="button button-primary" disabled={sending}>
            {sending ? 'Sending…' : 'Send Test'}
          </button>
        </form>
      )}
      <TestSendStatus
        sending={sending}
        error={error}
        result={result}
        logsHref={(sent) =>
          sent.delivery_id
            ? href({ name: 'webhook', id: webhook.id, tab: 'logs', delivery: sent.delivery_id })
            : href({ name: 'webhook', id: webhook.id, tab: 'logs' })
        }
      />
    </section>
  );
}
