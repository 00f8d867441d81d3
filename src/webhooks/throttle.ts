// How an endpoint's adaptive concurrency (storage/throttle.ts) shows in its API answer: whether
// the delivery workers are holding back, how many attempts they keep in flight to it now, why,
// and since when. A recovered endpoint reads `normal` again.
import { Type, type Static } from '@sinclair/typebox';
import { iso } from '../http/context.js';
import { effectiveCap, type ThrottleState } from '../storage/throttle.js';

export const ThrottleBody = Type.Object(
  {
    state: Type.Union([Type.Literal('normal'), Type.Literal('throttled')]),
    max_in_flight: Type.Integer({
      description: 'Attempts the workers keep in flight to this endpoint at most, right now.',
    }),
    reason: Type.Union(
      [Type.Literal('timeouts'), Type.Literal('overloaded'), Type.Literal('errors'), Type.Null()],
      {
        description:
          'timeouts: attempts got no answer in time (or no connection); overloaded: it answered 429, 502, 503 or 504; errors: error answers in a row. null when normal.',
      },
    ),
    since: Type.Union([Type.String(), Type.Null()], {
      description: 'When the workers started holding back; null when normal.',
    }),
  },
  {
    description:
      'Delivery to an endpoint that stops answering or fails in a row is cut down to a few attempts at a time, and grows back by one with each success.',
  },
);

export function renderThrottle(
  throttle: ThrottleState,
  maxInFlight: number,
): Static<typeof ThrottleBody> {
  return {
    state: throttle.limit === null ? 'normal' : 'throttled',
    max_in_flight: effectiveCap(throttle.limit, maxInFlight),
    reason: throttle.limit === null ? null : throttle.reason,
    since: throttle.limit === null || throttle.since === null ? null : iso(throttle.since),
  };
}
