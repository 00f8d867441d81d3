// The operational event types of SPEC §11: published by Rizler itself about an account's own
// endpoints and deliveries, never by the platform. They join the catalogue (schemas, examples,
// the receiver's generated types) but a `*` subscription does not cover them. Each is an
// EventTypeDefinition, checked where event-types.ts joins them to the catalogue (this file
// imports nothing, so the two do not import each other).

export const WEBHOOK_DISABLED = 'webhook.disabled';
export const WEBHOOK_ENABLED = 'webhook.enabled';
export const DELIVERY_EXHAUSTED = 'delivery.exhausted';

const accountId = {
  type: 'string',
  minLength: 1,
  description:
    'The account concerned; only in the copies sent to the installation operator (RIZLER_OPERATOR_WEBHOOK_URL).',
};
const webhookId = { type: 'string', minLength: 1, description: 'The endpoint (`wh_…`).' };
const url = { type: 'string', format: 'uri', description: "The endpoint's URL." };

export const OPERATIONAL_EVENT_TYPES = [
  {
    name: WEBHOOK_DISABLED,
    family: 'webhook',
    operational: true,
    description:
      'One of your endpoints was disabled: by its owner, for failing too long, or for answering 410 Gone.',
    schema: {
      type: 'object',
      properties: {
        webhook_id: webhookId,
        url,
        reason: {
          type: 'string',
          enum: ['manual', 'failing', 'gone'],
          description: 'Why the endpoint was disabled.',
        },
        account_id: accountId,
      },
      required: ['webhook_id', 'url', 'reason'],
      additionalProperties: true,
    },
    example: {
      webhook_id: 'wh_01HQ3M8Z6K0000ABCDEFGHJKMN',
      url: 'https://crm.example.com/hooks/rizler',
      reason: 'failing',
    },
  },
  {
    name: WEBHOOK_ENABLED,
    family: 'webhook',
    operational: true,
    description:
      'One of your endpoints was enabled again; the deliveries that waited for it are sent now.',
    schema: {
      type: 'object',
      properties: { webhook_id: webhookId, url, account_id: accountId },
      required: ['webhook_id', 'url'],
      additionalProperties: true,
    },
    example: {
      webhook_id: 'wh_01HQ3M8Z6K0000ABCDEFGHJKMN',
      url: 'https://crm.example.com/hooks/rizler',
    },
  },
  {
    name: DELIVERY_EXHAUSTED,
    family: 'delivery',
    operational: true,
    description:
      'A delivery failed for good: every automatic retry was spent; it can still be retried by hand.',
    schema: {
      type: 'object',
      properties: {
        delivery_id: { type: 'string', minLength: 1, description: 'The delivery (`dlv_…`).' },
        webhook_id: webhookId,
        event_id: { type: 'string', minLength: 1, description: 'The event it carried (`evt_…`).' },
        event: { type: 'string', minLength: 1, description: "The event's type." },
        attempts: { type: 'integer', minimum: 1, description: 'Attempts made.' },
        last_status_code: {
          type: ['integer', 'null'],
          description: "The last attempt's HTTP status; null when no answer came.",
        },
        last_error: {
          type: ['string', 'null'],
          description: 'What went wrong with the last attempt, in words.',
        },
        account_id: accountId,
      },
      required: [
        'delivery_id',
        'webhook_id',
        'event_id',
        'event',
        'attempts',
        'last_status_code',
        'last_error',
      ],
      additionalProperties: true,
    },
    example: {
      delivery_id: 'dlv_01HQ3MB2F40000ABCDEFGHJKMN',
      webhook_id: 'wh_01HQ3M8Z6K0000ABCDEFGHJKMN',
      event_id: 'evt_01HQ3MB2F40000ABCDEFGHJKMN',
      event: 'call.ended',
      attempts: 6,
      last_status_code: 503,
      last_error: 'the receiver answered HTTP 503',
    },
  },
];

const NAMES = new Set(OPERATIONAL_EVENT_TYPES.map((t) => t.name));

export function isOperationalEventType(name: string): boolean {
  return NAMES.has(name);
}
