// Puts an API error next to the form field it concerns, in the API's own words.
import type { ApiError } from '../api/client.js';

export type WebhookField =
  | 'url'
  | 'events'
  | 'secret'
  | 'status'
  | 'description'
  | 'rate_limit_per_minute'
  | 'headers'
  | 'filter'
  | 'ordering';

// Checked in this order: a message naming `rate_limit_per_minute` must not fall to `url`.
const MENTIONS: [RegExp, WebhookField][] = [
  [/rate[_ ]limit/i, 'rate_limit_per_minute'],
  [/^headers\b/i, 'headers'],
  [/^filter\b/i, 'filter'],
  [/\burl\b/i, 'url'],
  [/\bevents?\b/i, 'events'],
  [/\bsecret\b/i, 'secret'],
  [/\bdescription\b/i, 'description'],
  [/\bstatus\b/i, 'status'],
  [/\bordering\b/i, 'ordering'],
];

export function fieldOfError(error: ApiError): WebhookField | null {
  switch (error.code) {
    case 'invalid_url':
      return 'url';
    case 'unknown_event_type':
      return 'events';
    case 'validation_error':
    case 'invalid_json':
      for (const [pattern, field] of MENTIONS) {
        if (pattern.test(error.message)) return field;
      }
      return null;
    default:
      return null;
  }
}
