// The body every endpoint receives: compact JSON with keys in this order (SPEC §3).
export function eventPayload(id: string, event: string, timestamp: string, data: unknown): string {
  return JSON.stringify({ id, event, timestamp, data });
}
