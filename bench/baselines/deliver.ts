// What each baseline does with one job: sign the body the way Rizler does (Standard Webhooks
// HMAC-SHA256 of id.timestamp.body, plus X-Rizler-Signature over the body) and POST it with
// undici, throwing on anything but 2xx so the queue retries it. Written the way a team would,
// with node:crypto, not with Rizler's own code.
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';

/** One job per delivery: where to, and the exact body. */
export interface DeliveryJob {
  url: string;
  eventId: string;
  eventType: string;
  payload: string;
}

export interface Deliverer {
  deliver(job: DeliveryJob, deliveryId: string, attempt: number): Promise<void>;
  close(): Promise<void>;
}

export function createDeliverer(secret: string, connections: number): Deliverer {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const agent = new Agent({ connections, keepAliveTimeout: 60_000 });
  return {
    async deliver(job, deliveryId, attempt) {
      const timestamp = Math.floor(Date.now() / 1000);
      const signed = createHmac('sha256', key)
        .update(`${job.eventId}.${timestamp}.${job.payload}`)
        .digest('base64');
      const res = await request(job.url, {
        method: 'POST',
        dispatcher: agent,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Rizler-Webhooks/0.1.0',
          'x-rizler-event': job.eventType,
          'x-rizler-delivery': deliveryId,
          'x-rizler-attempt': String(attempt),
          'x-rizler-signature':
            'sha256=' + createHmac('sha256', secret).update(job.payload).digest('hex'),
          'webhook-id': job.eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': `v1,${signed}`,
        },
        body: job.payload,
      });
      await res.body.text();
      if (res.statusCode < 200 || res.statusCode >= 300)
        throw new Error(`${job.url} answered ${res.statusCode}`);
    },
    close: () => agent.close(),
  };
}
