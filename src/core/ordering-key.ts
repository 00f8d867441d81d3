// The ordering key of an event (SPEC §10): the one published, else the catalogue's default for
// its type — the call for call, recording, transcript and voicemail events, the agent for
// agent events. Pure.

/** A published key is a string of 1 to 200 characters. */
export const MAX_ORDERING_KEY = 200;

const FIELD_BY_FAMILY: Record<string, string> = {
  call: 'call_id',
  recording: 'call_id',
  transcript: 'call_id',
  voicemail: 'call_id',
  agent: 'agent_id',
};

/** The type's default key from `data`, or null when the type has none or `data` lacks it. */
export function defaultOrderingKey(type: string, data: Record<string, unknown>): string | null {
  const field = FIELD_BY_FAMILY[type.slice(0, type.indexOf('.'))];
  if (field === undefined) return null;
  const value = data[field];
  const key =
    typeof value === 'string'
      ? value
      : typeof value === 'number' && Number.isFinite(value)
        ? String(value)
        : null;
  // A value no published key could be (empty, too long, with NUL) names no order.
  if (key === null || key.length === 0 || key.length > MAX_ORDERING_KEY || key.includes('\0')) {
    return null;
  }
  return key;
}
