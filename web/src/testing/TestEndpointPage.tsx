import { type FormEvent, useRef, useState } from 'react';
import type { TestResult } from '../api/types.js';
import { useSession } from '../app/context.js';
import { href } from '../app/router.js';
import { Breadcrumbs } from '../components/Breadcrumbs.js';
import { WithEventTypes } from '../components/EventTypeSelect.js';
import { Field, focusFirstInvalid } from '../components/Field.js';
import { SecretInput, UrlInput } from '../components/Inputs.js';
import { fieldOfError } from '../webhooks/fieldErrors.js';
import { TestSendStatus } from './TestResultView.js';
import { SendTestButton, TestEventField, useTestSend } from './testSend.js';

/** Sends a signed sample event to a URL that is not saved as a webhook yet. */
export function TestEndpointPage({ initialUrl }: { initialUrl?: string }) {
  const { api } = useSession();
  const [url, setUrl] = useState(initialUrl ?? '');
  const [secret, setSecret] = useState('');
  const test = useTestSend();
  const [fieldErrors, setFieldErrors] = useState<{ url?: string; secret?: string; event?: string }>(
    {},
  );
  const formRef = useRef<HTMLFormElement>(null);

  const send = async (formEvent: FormEvent) => {
    formEvent.preventDefault();
    setFieldErrors({});
    await test.send(
      (event) => {
        const body: { url: string; event: string; secret?: string } = { url: url.trim(), event };
        if (secret !== '') body.secret = secret;
        return api.post<TestResult>('/v1/webhooks/test', body);
      },
      (apiError) => {
        const field = fieldOfError(apiError);
        if (field === 'url' || field === 'secret') {
          setFieldErrors({ [field]: apiError.message });
        } else if (field === 'events') {
          setFieldErrors({ event: apiError.message });
        } else {
          return false;
        }
        requestAnimationFrame(() => focusFirstInvalid(formRef.current));
        return true;
      },
    );
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
        <WithEventTypes>
          {(types) => (
            <form ref={formRef} className="form" onSubmit={send} noValidate>
              <Field
                label="Endpoint URL"
                hint="Where to send the POST request."
                error={fieldErrors.url}
              >
                {(control) => <UrlInput control={control} value={url} onChange={setUrl} />}
              </Field>
              <TestEventField
                types={types}
                test={test}
                hint="Its catalogue example is sent as data."
                error={fieldErrors.event}
              />
              <Field
                label="Secret Key"
                optional
                hint="Signs the request, so your receiver's verification can be checked too. Leave empty to sign with a throwaway secret."
                error={fieldErrors.secret}
              >
                {(control) => <SecretInput control={control} value={secret} onChange={setSecret} />}
              </Field>
              <div className="form-actions">
                <SendTestButton test={test} />
              </div>
            </form>
          )}
        </WithEventTypes>
        <TestSendStatus
          test={test}
          logsHref={(sent) =>
            sent.delivery_id ? href({ name: 'delivery', id: sent.delivery_id }) : undefined
          }
        />
      </section>
    </>
  );
}
