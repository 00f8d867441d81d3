// Fan-out, the rule both engines' publish and operational events apply: an enabled endpoint
// gets an event when it subscribes to the event's type and its filter (compiled once per
// webhook version, core/filter.ts) lets the event through.
import { subscriptionMatches } from '../core/event-types.js';
import type { FilterCache, FilterSubject, Predicate } from '../core/filter.js';
import { json, num, strOrNull, type Row } from './rows.js';

export interface FanOutEndpoint {
  id: string;
  url: string;
  events: string[];
  filter: Predicate | null;
  ordered: boolean;
}

/** An endpoint's row (id, url, events, filter, updated_at, ordering) as fan-out reads it. */
export function fanOutEndpoint(filters: FilterCache, r: Row): FanOutEndpoint {
  return {
    id: String(r.id),
    url: String(r.url),
    events: json<string[]>(r.events),
    filter: filters.predicateFor(String(r.id), num(r.updated_at), strOrNull(r.filter)),
    ordered: r.ordering === 'per_key',
  };
}

/** Whether `endpoint` gets an event of `type`; `subject` is the event as filters read it. */
export function receives(
  endpoint: FanOutEndpoint,
  type: string,
  subject: () => FilterSubject,
): boolean {
  if (!subscriptionMatches(endpoint.events, type)) return false;
  return !endpoint.filter || endpoint.filter(subject());
}
