import type { FormEvent } from 'react';
import type { TestResult, Webhook } from '../api/types.js';
import { useSession } from '../app/context.js';
import { href } from '../app/router.js';
import { WithEventTypes } from '../components/EventTypeSelect.js';
import { TestSendStatus } from '../testing/TestResultView.js';
import { SendTestButton, TestEventField, useTestSend } from '../testing/testSend.js';

export function SendTestPanel({ webhook }: { webhook: Webhook }) {
  const { api } = useSession();
  const test = useTestSend();

  const send = async (formEvent: FormEvent) => {
    formEvent.preventDefault();
    await test.send((event) =>
      api.post<TestResult>(`/v1/webhooks/${encodeURIComponent(webhook.id)}/test`, { event }),
    );
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
      <WithEventTypes>
        {(types) => (
          <form className="inline-form" onSubmit={send}>
            <TestEventField types={types} test={test} />
            <SendTestButton test={test} />
          </form>
        )}
      </WithEventTypes>
      <TestSendStatus
        test={test}
        logsHref={(sent) =>
          sent.delivery_id
            ? href({ name: 'webhook', id: webhook.id, tab: 'logs', delivery: sent.delivery_id })
            : href({ name: 'webhook', id: webhook.id, tab: 'logs' })
        }
      />
    </section>
  );
}
