import type { TestResult } from '../api/types.js';
import { formatDuration, formatStatusCode } from '../app/format.js';
import { Fact } from '../components/Fact.js';
import { ResponseBody } from '../components/ResponseBody.js';
import { ErrorMessage, Loading } from '../components/States.js';
import type { TestSend } from './testSend.js';

/** The outcome of a test send: success or failure, status, time, body and error. */
export function TestResultView({ result, logsHref }: { result: TestResult; logsHref?: string }) {
  return (
    <div
      className={`test-result ${result.success ? 'test-result-success' : 'test-result-failure'}`}
    >
      <p className="test-result-title">
        <span className="test-result-icon" aria-hidden="true">
          {result.success ? '✓' : '✕'}
        </span>
        {result.success ? 'Test delivered' : 'Test failed'}
      </p>
      <dl className="facts">
        <Fact term="Status code">{formatStatusCode(result.status_code)}</Fact>
        <Fact term="Response time">{formatDuration(result.duration_ms)}</Fact>
        {result.error && (
          <Fact term="Error" wide className="error-text">
            {result.error}
          </Fact>
        )}
      </dl>
      <div className="body-block">
        <ResponseBody body={result.response_body} />
      </div>
      {logsHref && (
        <p>
          <a href={logsHref}>View this delivery in the logs</a>
        </p>
      )}
    </div>
  );
}

/**
 * Where a test send reports, announced to screen readers: sending, the error, or the result
 * with a link to its log entry (`logsHref` makes that link from the result).
 */
export function TestSendStatus({
  test: { sending, error, result },
  logsHref,
}: {
  test: Pick<TestSend, 'sending' | 'error' | 'result'>;
  logsHref: (result: TestResult) => string | undefined;
}) {
  return (
    <div aria-live="polite" className="live-region">
      {sending && <Loading label="Sending the test event…" />}
      {error && <ErrorMessage title="The test could not be sent" error={error} />}
      {result && <TestResultView result={result} logsHref={logsHref(result)} />}
    </div>
  );
}
