// The event catalogue: every type SPEC §2 names, examples that validate, validation messages a
// person can act on, and subscription patterns.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TEST_EVENT,
  EVENT_TYPES,
  findEventType,
  isKnownEventType,
  isValidSubscription,
  subscriptionMatches,
  validateEventData,
} from '../../src/core/event-catalogue.js';
import { SPEC_EVENT_TYPES } from '../helpers/spec.js';

const ended = { call_id: 'call_1', agent_id: 'agent_1', duration: 180, status: 'completed' };

describe('the catalogue', () => {
  it('lists every type SPEC §2 names, once, in its family', () => {
    const names = EVENT_TYPES.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(SPEC_EVENT_TYPES));
    expect(new Set(names).size).toBe(names.length);
    for (const t of EVENT_TYPES) {
      expect(t.name).toMatch(/^[a-z]+\.[a-z_]+$/);
      expect(t.name.startsWith(`${t.family}.`)).toBe(true);
    }
  });

  it('describes each type in one sentence', () => {
    for (const t of EVENT_TYPES) {
      expect(t.description, t.name).toMatch(/^[A-Z].*\.$/);
      expect(t.description.length, t.name).toBeLessThan(140);
    }
  });

  it('has examples that validate against their schemas', () => {
    for (const t of EVENT_TYPES) {
      expect(validateEventData(t.name, t.example), t.name).toEqual({ ok: true });
    }
  });

  it('sends the SPEC §3 payload for the default test event', () => {
    expect(DEFAULT_TEST_EVENT).toBe('call.ended');
    expect(findEventType(DEFAULT_TEST_EVENT)?.example).toMatchObject({
      call_id: 'call_123456',
      agent_id: 'agent_789',
      duration: 180,
      status: 'completed',
    });
    expect(validateEventData('call.ended', { ...ended, call_id: 'call_123456' })).toEqual({
      ok: true,
    });
  });

  it('requires every example field it lists as required, and names the missing one', () => {
    for (const t of EVENT_TYPES) {
      const required = t.schema.required as string[];
      expect(required.length, t.name).toBeGreaterThan(0);
      for (const field of required) {
        const data: Record<string, unknown> = { ...t.example };
        delete data[field];
        expect(validateEventData(t.name, data), `${t.name} without ${field}`).toEqual({
          ok: false,
          field: `data.${field}`,
          message: `data.${field} is required`,
        });
      }
    }
  });

  it('allows properties it does not know yet (the platform adds fields over time)', () => {
    for (const t of EVENT_TYPES) {
      const data = { ...t.example, added_later: { anything: [1, 'two'] } };
      expect(validateEventData(t.name, data), t.name).toEqual({ ok: true });
    }
  });

  it('cannot be changed by a caller', () => {
    const example = findEventType('call.ended')!.example;
    expect(() => {
      example.duration = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(EVENT_TYPES)).toBe(true);
  });

  it('finds types by name', () => {
    expect(findEventType('recording.ready')?.family).toBe('recording');
    expect(findEventType('call.nope')).toBeUndefined();
    expect(isKnownEventType('agent.deleted')).toBe(true);
    expect(isKnownEventType('agent.*')).toBe(false);
    expect(isKnownEventType('')).toBe(false);
  });
});

describe('validateEventData', () => {
  const cases: [string, string, unknown, string, string][] = [
    [
      'an integer',
      'call.ended',
      { ...ended, duration: 1.5 },
      'data.duration',
      'data.duration must be an integer',
    ],
    [
      'a type',
      'call.ended',
      { ...ended, duration: '180' },
      'data.duration',
      'data.duration must be an integer',
    ],
    [
      'a minimum',
      'call.ended',
      { ...ended, duration: -1 },
      'data.duration',
      'data.duration must be at least 0',
    ],
    [
      'an enum',
      'call.ended',
      { ...ended, status: 'finished' },
      'data.status',
      'data.status must be one of: completed, abandoned, no_answer, busy, voicemail, failed',
    ],
    [
      'a nullable id',
      'call.ended',
      { ...ended, agent_id: 7 },
      'data.agent_id',
      'data.agent_id must be a string or null',
    ],
    [
      'an empty id',
      'call.ended',
      { ...ended, call_id: '' },
      'data.call_id',
      'data.call_id must not be empty',
    ],
    [
      'an E.164 number',
      'call.started',
      { call_id: 'c', direction: 'inbound', from: '0044 20 7946 0958', to: '+14155550199' },
      'data.from',
      'data.from must be a phone number in E.164 format, such as +14155550123',
    ],
    [
      'a date-time',
      'call.ended',
      { ...ended, ended_at: '15/01/2024 10:30' },
      'data.ended_at',
      'data.ended_at must be an ISO-8601 date-time with a time zone, such as 2024-01-15T10:30:00Z',
    ],
    [
      'a URL',
      'recording.ready',
      { recording_id: 'r', call_id: 'c', recording_url: 'recordings/r.mp3' },
      'data.recording_url',
      'data.recording_url must be an absolute URL, such as https://example.com/file.mp3',
    ],
    [
      'an email',
      'agent.created',
      { agent_id: 'a', name: 'Sam', email: 'sam at example' },
      'data.email',
      'data.email must be an email address, such as sam@example.com',
    ],
    [
      'a nested array item',
      'transcript.ready',
      {
        transcript_id: 't',
        call_id: 'c',
        text: 'hi',
        segments: [
          { speaker: 'agent', start: 0, end: 1, text: 'hi' },
          { speaker: 'caller', start: 1, text: 'x' },
        ],
      },
      'data.segments[1].end',
      'data.segments[1].end is required',
    ],
    ['an object', 'call.ended', ['call_1'], 'data', 'data must be an object'],
    ['null', 'call.ended', null, 'data', 'data must be an object'],
  ];

  for (const [what, event, data, field, message] of cases) {
    it(`names the field that breaks ${what}`, () => {
      expect(validateEventData(event, data)).toEqual({ ok: false, field, message });
    });
  }

  it('says which kind of value an array field needs', () => {
    const data = { ...findEventType('transcript.ready')!.example, segments: 'nope' };
    expect(validateEventData('transcript.ready', data)).toMatchObject({
      field: 'data.segments',
      message: 'data.segments must be an array',
    });
  });

  it('refuses an unknown event type', () => {
    expect(validateEventData('call.teleported', {})).toEqual({
      ok: false,
      field: 'event',
      message: 'event "call.teleported" is not a known event type',
    });
  });

  it('never throws, whatever the data (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...EVENT_TYPES.map((t) => t.name)),
        fc.anything(),
        (name, data) => {
          const result = validateEventData(name, data);
          if (!result.ok) expect(result.message.startsWith(result.field)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('subscriptions', () => {
  it('are valid as an exact known type, a known family with .*, or *', () => {
    for (const p of ['call.ended', 'agent.status_changed', 'call.*', 'recording.*', '*']) {
      expect(isValidSubscription(p), p).toBe(true);
    }
    for (const p of [
      '',
      'call',
      'call.',
      'calls.*',
      'call.nope',
      '*.ended',
      'call.ended.*',
      '**',
      'call.*.x',
    ]) {
      expect(isValidSubscription(p), p).toBe(false);
    }
  });

  it('match exact types, families and everything', () => {
    expect(subscriptionMatches(['call.ended'], 'call.ended')).toBe(true);
    expect(subscriptionMatches(['call.ended'], 'call.started')).toBe(false);
    expect(subscriptionMatches(['call.*'], 'call.started')).toBe(true);
    expect(subscriptionMatches(['call.*'], 'agent.created')).toBe(false);
    expect(subscriptionMatches(['agent.*', 'call.ended'], 'agent.deleted')).toBe(true);
    expect(subscriptionMatches(['*'], 'transcript.ready')).toBe(true);
    expect(subscriptionMatches([], 'call.ended')).toBe(false);
  });

  it('match a family only at the dot', () => {
    expect(subscriptionMatches(['call.*'], 'callback.created')).toBe(false);
    expect(subscriptionMatches(['call.*'], 'call')).toBe(false);
  });

  it('agree with the catalogue for every type (property)', () => {
    const names = EVENT_TYPES.map((t) => t.name);
    const patterns = fc.constantFrom('*', ...names, ...EVENT_TYPES.map((t) => `${t.family}.*`));
    fc.assert(
      fc.property(fc.array(patterns, { maxLength: 4 }), fc.constantFrom(...names), (ps, name) => {
        const { family, operational } = findEventType(name)!;
        // `*` is the platform's events: operational ones (SPEC §11) are subscribed to by name.
        const expected = ps.some(
          (p) => (p === '*' && !operational) || p === name || p === `${family}.*`,
        );
        expect(subscriptionMatches(ps, name)).toBe(expected);
      }),
    );
  });
});
