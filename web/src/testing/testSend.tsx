// What the two test sends share: Test endpoint (a URL not saved yet) and the webhook page's
// "Send a test event" (a saved webhook). Each supplies its own request and where its result
// links to; TestSendStatus (TestResultView.tsx) shows the outcome.
import { useState } from 'react';
import { type ApiError, toApiError } from '../api/client.js';
import type { EventType, TestResult } from '../api/types.js';
import { useSession } from '../app/context.js';
import { EventTypeSelect, defaultTestEvent } from '../components/EventTypeSelect.js';
import { Field } from '../components/Field.js';

export interface TestSend {
  /** The event type to send: the catalogue's default until one is chosen. */
  event: string;
  setEvent: (event: string) => void;
  sending: boolean;
  result: TestResult | null;
  error: ApiError | null;
  /**
   * Runs `request` with the chosen event type. An error goes to `error` unless `claim` takes
   * it (returns true), as a form does with an error about one of its fields.
   */
  send: (
    request: (event: string) => Promise<TestResult>,
    claim?: (error: ApiError) => boolean,
  ) => Promise<void>;
}

export function useTestSend(): TestSend {
  const { eventTypes } = useSession();
  const [chosen, setEvent] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const event = chosen ?? defaultTestEvent(eventTypes.data);

  const send: TestSend['send'] = async (request, claim) => {
    setSending(true);
    setError(null);
    setResult(null);
    try {
      setResult(await request(event));
    } catch (caught) {
      const apiError = toApiError(caught);
      if (!claim?.(apiError)) setError(apiError);
    } finally {
      setSending(false);
    }
  };
  return { event, setEvent, sending, result, error, send };
}

/** The "Test event type" select of a test send. */
export function TestEventField({
  types,
  test,
  hint,
  error,
}: {
  types: EventType[];
  test: TestSend;
  hint?: string;
  error?: string;
}) {
  return (
    <Field label="Test event type" hint={hint} error={error}>
      {(control) => (
        <EventTypeSelect
          types={types}
          value={test.event}
          onChange={test.setEvent}
          control={control}
        />
      )}
    </Field>
  );
}

export function SendTestButton({ test }: { test: TestSend }) {
  return (
    <button type="submit" className="button button-primary" disabled={test.sending}>
      {test.sending ? 'Sending…' : 'Send Test'}
    </button>
  );
}
