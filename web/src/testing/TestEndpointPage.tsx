import { type FormEvent, useRef, useState } from 'react';
import { type ApiError, toApiError } from '../api/client.js';
import type { TestResult } from '../api/types.js';
import { useSession } from '../app/context.js';
import { href } from '../app/router.js';
import { Breadcrumbs } from '../components/Breadcrumbs.js';
import { EventTypeSelect, defaultTestEvent } from '../components/EventTypeSelect.js';
import { Field, focusFirstInvalid } from '../components/Field.js';
import { SecretInput, UrlInput } from '../components/Inputs.js';
import { ErrorMessage, Loading } from '../components/States.js';
import { fieldOfError } from '../webhooks/fieldErrors.js';
import { TestSendStatus } from './TestResultView.js';

/** Sends a signed sample event to a URL that is not saved as a webhook yet. */
export function TestEndpointPage({ initialUrl }: { initialUrl?: string }) {
  const { api, eventTypes } = useSession();
  const [url, setUrl] = useState(initialUrl ?? '');
  const [event, setEvent] = useState<string | null>(null);
  const [secret, setSecret] = useState('');
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ url?: string; secret?: string; event?: string }>(
    {},
  );
  const formRef = useRef<HTMLFormElement>(null);
  const chosen = event ?? defaultTestEvent(eventTypes.data);

  const send = async (formEvent: FormEvent) => {
    formEvent.preventDefault();
    setSending(true);
    setError(null);
    setResult(null);
    setFieldErrors({});
    try {
      const body: { url: string; event: string; secret?: string } = {
        url: url.trim(),
        event: chosen,
      };
      if (secret !== '') body.secret = secret;
      setResult(await api.post<TestResult>('/v1/webhooks/test', body));
    } catch (caught) {
      const apiError = toApiError(caught);
      const field = fieldOfError(apiError);
      if (field === 'url' || field === 'secret') {
        setFieldErrors({ [field]: apiError.message });
        requestAnimationFrame(() => focusFirstInvalid(formRef.current));
      } else if (field === 'events') {
        setFieldErrors({ event: apiError.message });
        requestAnimationFrame(() => focusFirstInvalid(formRef.current));
      } else {
        setError(apiError);
      }
    } finally {
      setSending(false);
    }
  };

  return (
    <>
      <Breadcrumbs items={[{ label: 'Setup' }, { label: 'Test endpoint' }]} />
      <div className="page-header">
        <div>
          <h1 id="page-title" tabIndex={-1}>
            Test endpoint
          </h1>
          <p className="page-lead">
            Send one signed sample event to a URL before saving it as a webhook. The attempt is made
            once, without retries, and kept in the logs.
          </p>
        </div>
      </div>
      <section className="card narrow-card" aria-label="Test an endpoint">
        {eventTypes.error && !eventTypes.data ? (
          <ErrorMessage
            title="Could not load the event types"
            error={eventTypes.error}
            onRetry={eventTypes.reload}
          />
        ) : !eventTypes.data ? (
          <Loading label="Loading event types…" />
        ) : (
          <form ref={formRef} className="form" onSubmit={send} noValidate>
            <Field
              label="Endpoint URL"
              hint="Where to send the POST request."
              error={fieldErrors.url}
            >
              {(control) => <UrlInput control={control} value={url} onChange={setUrl} />}
            </Field>
            <Field
              label="Test event type"
              hint="Its catalogue example is sent as data."
              error={fieldErrors.event}
            >
              {(control) => (
                <EventTypeSelect
                  types={eventTypes.data ?? []}
                  value={chosen}
                  onChange={setEvent}
                  control={control}
                />
              )}
            </Field>
            <Field
              label="Secret Key"
              optional
              hint="Signs the request, so your receiver's verification can be checked too. Leave empty to sign with a throwaway secret."
              error={fieldErrors.secret}
            >
              {(control) => <SecretInput control={control} value={secret} onChange={setSecret} />}
            </Field>
            <div className="form-actions">
              <button type="submit" className="button button-primary" disabled={sending}>
                {sending ? 'Sending…' : 'Send Test'}
              </button>
            </div>
          </form>
        )}
        <TestSendStatus
          sending={sending}
          error={error}
          result={result}
          logsHref={(sent) =>
            sent.delivery_id ? href({ name: 'delivery', id: sent.delivery_id }) : undefined
          }
        />
      </section>
    </>
  );
}
