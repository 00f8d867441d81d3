import type { WebhookThrottle } from '../api/types.js';
import { AbsoluteTime } from '../components/Time.js';

const WHY: Record<NonNullable<WebhookThrottle['reason']>, string> = {
  timeouts: 'its attempts got no answer in time',
  overloaded: 'it answered that it is overloaded (429, 502, 503 or 504)',
  errors: 'its last attempts all failed',
};

/** Whether the workers are holding back on this endpoint, why, and since when. */
export function ThrottleState({ throttle }: { throttle: WebhookThrottle }) {
  if (throttle.state === 'normal') {
    return <span>Normal: up to {throttle.max_in_flight} attempts at a time</span>;
  }
  return (
    <span role="status" className="throttled">
      Throttled to {throttle.max_in_flight} at a time
      {throttle.reason ? ` because ${WHY[throttle.reason]}` : ''}
      {throttle.since ? (
        <>
          , since <AbsoluteTime iso={throttle.since} />
        </>
      ) : null}
      . Each success lets one more through; deliveries wait, none is lost.
    </span>
  );
}
