// Deliveries signed the way the worker signs them (src/core/signing.ts), for receiver tests.
import { randomBytes } from 'node:crypto';
import { findEventType } from '../../src/core/event-catalogue.js';
import { rizlerSignature, standardSignatureHeader } from '../../src/core/signing.js';

/** A secret shaped like the generated ones: `whsec_` + base64 of 32 random bytes. */
export function makeSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface Delivery {
  id: string;
  timestamp: number;
  body: string;
  headers: Record<string, string>;
}

export interface DeliveryOptions {
  event?: string;
  id?: string;
  /** Unix seconds the attempt is signed at; default now. */
  timestamp?: number;
  /** Several secrets sign side by side, as during a rotation. */
  secrets: readonly string[];
  body?: string;
}

/** A delivery of the catalogue example of `event` (default `call.ended`), as SPEC §3 sends it. */
export function signedDelivery(options: DeliveryOptions): Delivery {
  const event = options.event ?? 'call.ended';
  const id = options.id ?? `evt_${randomBytes(8).toString('hex')}`;
  const timestamp = options.timestamp ?? nowSeconds();
  const example = findEventType(event)?.example;
  if (example === undefined) throw new Error(`no catalogue example for ${event}`);
  const body =
    options.body ?? JSON.stringify({ id, event, timestamp: '2024-01-15T10:30:00Z', data: example });
  return {
    id,
    timestamp,
    body,
    headers: {
      'content-type': 'application/json',
      'x-rizler-event': event,
      'x-rizler-signature': rizlerSignature(body, options.secrets[0]!),
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': standardSignatureHeader(id, timestamp, body, options.secrets),
    },
  };
}
