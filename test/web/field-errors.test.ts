// API errors land next to the form field they concern.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../web/src/api/client.js';
import { fieldOfError } from '../../web/src/webhooks/fieldErrors.js';

const error = (code: string, message: string) => new ApiError(400, code, message);

describe('fieldOfError', () => {
  it('maps error codes that name their field', () => {
    expect(fieldOfError(error('invalid_url', 'Use an absolute URL.'))).toBe('url');
    expect(fieldOfError(error('unknown_event_type', 'No event type call.foo.'))).toBe('events');
  });

  it('reads the field from a validation message', () => {
    expect(
      fieldOfError(error('validation_error', 'events must NOT have fewer than 1 items.')),
    ).toBe('events');
    expect(fieldOfError(error('validation_error', 'url must match format "uri".'))).toBe('url');
    expect(fieldOfError(error('validation_error', 'secret must be at least 8 characters.'))).toBe(
      'secret',
    );
    expect(
      fieldOfError(error('validation_error', 'status must be equal to one of the allowed values.')),
    ).toBe('status');
    expect(fieldOfError(error('validation_error', 'rate_limit_per_minute must be >= 1.'))).toBe(
      'rate_limit_per_minute',
    );
  });

  it('leaves the rest to the form as a whole', () => {
    expect(fieldOfError(error('endpoint_limit_reached', 'Delete an endpoint first.'))).toBeNull();
    expect(fieldOfError(error('validation_error', 'The request is not valid.'))).toBeNull();
  });
});
