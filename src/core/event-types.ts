// The event catalogue of SPEC §2, as data: every type the platform publishes, with a JSON
// Schema for its `data` and the example that "Send Test" and `trigger` send, and the rules for
// subscribing to them. Its validation is event-catalogue.ts (which needs ajv); storage and the
// CLI read only this file.
//
// Schemas require only the ids and facts a receiver cannot do without and allow additional
// properties: the platform adds fields over time, and an added field must never make a
// publisher's event invalid.
import { isOperationalEventType, OPERATIONAL_EVENT_TYPES } from './operational-catalogue.js';

export interface EventTypeDefinition {
  name: string;
  family: string;
  description: string;
  /** JSON Schema (draft-07, ajv-compatible) of the event's `data`. */
  schema: Record<string, unknown>;
  /** An example `data`; it validates against `schema`. */
  example: Record<string, unknown>;
  /** Published by Rizler itself (SPEC §11), not by the platform; `*` does not cover it. */
  operational?: boolean;
}

export const DEFAULT_TEST_EVENT = 'call.ended';

type Schema = Record<string, unknown>;

/** E.164: a `+`, then up to 15 digits, the first not 0. */
export const E164_PATTERN = '^\\+[1-9][0-9]{1,14}$';

function object(properties: Record<string, Schema>, required: string[], title?: string): Schema {
  return {
    ...(title === undefined ? {} : { title }),
    type: 'object',
    properties,
    required,
    additionalProperties: true,
  };
}

function id(description: string): Schema {
  return { type: 'string', minLength: 1, description };
}

function nullableId(description: string): Schema {
  return { type: ['string', 'null'], minLength: 1, description };
}

function phone(description: string): Schema {
  return { type: 'string', pattern: E164_PATTERN, description: `${description} (E.164).` };
}

function dateTime(description: string): Schema {
  return { type: 'string', format: 'date-time', description: `${description} (ISO-8601).` };
}

function seconds(description: string): Schema {
  return { type: 'integer', minimum: 0, description: `${description}, in whole seconds.` };
}

function oneOf(values: string[], description: string): Schema {
  return { type: 'string', enum: values, description };
}

function url(description: string): Schema {
  return { type: 'string', format: 'uri', description };
}

const callId = id('The call, the same on every event about it.');
const direction = oneOf(
  ['inbound', 'outbound'],
  'inbound: a caller dialled one of the account numbers; outbound: an agent or campaign dialled out.',
);
const caller = phone('The number that placed the call');
const called = phone('The number that was called');
const queueId = nullableId('The queue that routed the call; null when it was not queued.');
const AGENT_STATUSES = ['available', 'busy', 'on_call', 'wrap_up', 'break', 'offline'];

// Examples tell one story: call_123456 from +14155550123 reaches the support queue at 10:27:00,
// agent_789 answers at 10:27:12 and the call ends at 10:30:00 (180 s); recording and transcript follow.
const CALLER = '+14155550123';
const ACCOUNT_NUMBER = '+14155550199';
/** The call as it stands once it reaches agent_789, first of the fields of its ringing and answer. */
const AGENTS_CALL = {
  call_id: 'call_123456',
  agent_id: 'agent_789',
  direction: 'inbound',
  from: CALLER,
  to: ACCOUNT_NUMBER,
  queue_id: 'queue_support',
};

const DEFINITIONS: EventTypeDefinition[] = [
  {
    name: 'call.started',
    family: 'call',
    description:
      'A call has started: an inbound call reached one of your numbers, or an outbound call was placed.',
    schema: object(
      {
        call_id: callId,
        direction,
        from: caller,
        to: called,
        queue_id: queueId,
        agent_id: nullableId('The agent who placed an outbound call; null for inbound calls.'),
        started_at: dateTime('When the call started'),
      },
      ['call_id', 'direction', 'from', 'to'],
    ),
    example: {
      call_id: 'call_123456',
      direction: 'inbound',
      from: CALLER,
      to: ACCOUNT_NUMBER,
      queue_id: 'queue_support',
      agent_id: null,
      started_at: '2024-01-15T10:27:00Z',
    },
  },
  {
    name: 'call.ringing',
    family: 'call',
    description: "A call is ringing on an agent's phone and waiting to be answered.",
    schema: object(
      {
        call_id: callId,
        agent_id: id('The agent whose phone is ringing.'),
        direction,
        from: caller,
        to: called,
        queue_id: queueId,
        ringing_at: dateTime('When the phone started ringing'),
      },
      ['call_id', 'agent_id'],
    ),
    example: { ...AGENTS_CALL, ringing_at: '2024-01-15T10:27:04Z' },
  },
  {
    name: 'call.answered',
    family: 'call',
    description: 'An agent answered a call and the caller is now connected.',
    schema: object(
      {
        call_id: callId,
        agent_id: id('The agent who answered.'),
        direction,
        from: caller,
        to: called,
        queue_id: queueId,
        wait_time: seconds('How long the caller waited before the answer'),
        answered_at: dateTime('When the call was answered'),
      },
      ['call_id', 'agent_id'],
    ),
    example: { ...AGENTS_CALL, wait_time: 12, answered_at: '2024-01-15T10:27:12Z' },
  },
  {
    name: 'call.ended',
    family: 'call',
    description:
      'A call has ended, whatever its outcome: status says how it ended and duration how long it lasted.',
    schema: object(
      {
        call_id: callId,
        agent_id: nullableId('The agent who handled the call; null when no agent answered.'),
        duration: seconds('How long the call lasted, from start to hang-up'),
        status: oneOf(
          ['completed', 'abandoned', 'no_answer', 'busy', 'voicemail', 'failed'],
          'How the call ended: completed when an agent talked to the caller.',
        ),
        direction,
        from: caller,
        to: called,
        queue_id: queueId,
        talk_time: seconds('How long the caller and the agent were connected'),
        ended_by: oneOf(['caller', 'agent', 'system'], 'Who hung up.'),
        started_at: dateTime('When the call started'),
        ended_at: dateTime('When the call ended'),
      },
      ['call_id', 'duration', 'status'],
    ),
    example: {
      call_id: 'call_123456',
      agent_id: 'agent_789',
      duration: 180,
      status: 'completed',
      direction: 'inbound',
      from: CALLER,
      to: ACCOUNT_NUMBER,
      queue_id: 'queue_support',
      talk_time: 168,
      ended_by: 'caller',
      started_at: '2024-01-15T10:27:00Z',
      ended_at: '2024-01-15T10:30:00Z',
    },
  },
  {
    name: 'call.missed',
    family: 'call',
    description: 'An inbound call ended without any agent answering it.',
    schema: object(
      {
        call_id: callId,
        from: caller,
        to: called,
        queue_id: queueId,
        agent_id: nullableId('The last agent whose phone rang; null when none rang.'),
        reason: oneOf(
          ['no_answer', 'busy', 'abandoned', 'outside_business_hours', 'queue_full'],
          'Why nobody answered: abandoned means the caller hung up while waiting.',
        ),
        wait_time: seconds('How long the caller waited before the call ended'),
        missed_at: dateTime('When the call ended unanswered'),
      },
      ['call_id', 'from', 'reason'],
    ),
    example: {
      call_id: 'call_123457',
      from: '+14155550142',
      to: ACCOUNT_NUMBER,
      queue_id: 'queue_support',
      agent_id: 'agent_789',
      reason: 'abandoned',
      wait_time: 95,
      missed_at: '2024-01-15T10:41:35Z',
    },
  },
  {
    name: 'call.failed',
    family: 'call',
    description:
      'A call could not be connected because of a carrier, network or configuration error.',
    schema: object(
      {
        call_id: callId,
        direction,
        from: caller,
        to: called,
        agent_id: nullableId('The agent who placed the call, for outbound calls; otherwise null.'),
        error_code: id(
          'A stable code for the failure, such as carrier_unreachable or invalid_number.',
        ),
        error_message: { type: 'string', description: 'What went wrong, in words.' },
        sip_code: {
          type: 'integer',
          minimum: 400,
          maximum: 699,
          description: 'The SIP response code from the carrier, when there was one.',
        },
        failed_at: dateTime('When the call failed'),
      },
      ['call_id', 'error_code'],
    ),
    example: {
      call_id: 'call_123458',
      direction: 'outbound',
      from: ACCOUNT_NUMBER,
      to: '+442079460958',
      agent_id: 'agent_789',
      error_code: 'carrier_unreachable',
      error_message: 'The carrier did not answer the call setup within 30 seconds.',
      sip_code: 503,
      failed_at: '2024-01-15T11:02:31Z',
    },
  },
  {
    name: 'call.transferred',
    family: 'call',
    description: 'An agent transferred a call to another agent, a queue or an outside number.',
    schema: object(
      {
        call_id: callId,
        from_agent_id: id('The agent who transferred the call.'),
        to_agent_id: nullableId('The agent who received the call, when it went to an agent.'),
        to_queue_id: nullableId('The queue that received the call, when it went to a queue.'),
        to_number: {
          type: ['string', 'null'],
          pattern: E164_PATTERN,
          description:
            'The outside number that received the call, when it left the platform (E.164).',
        },
        transfer_type: oneOf(
          ['blind', 'warm'],
          'blind: handed over at once; warm: the agents spoke before the hand-over.',
        ),
        transferred_at: dateTime('When the transfer completed'),
      },
      ['call_id', 'from_agent_id', 'transfer_type'],
    ),
    example: {
      call_id: 'call_123456',
      from_agent_id: 'agent_789',
      to_agent_id: 'agent_790',
      to_queue_id: null,
      to_number: null,
      transfer_type: 'warm',
      transferred_at: '2024-01-15T10:29:10Z',
    },
  },
  {
    name: 'recording.ready',
    family: 'recording',
    description: 'A call recording has been processed and can be downloaded from recording_url.',
    schema: object(
      {
        recording_id: id('The recording.'),
        call_id: callId,
        recording_url: url(
          'Where to download the recording; the link stops working at expires_at.',
        ),
        duration: seconds('Length of the recording'),
        format: oneOf(['mp3', 'wav'], 'The audio format of the file.'),
        channels: {
          type: 'integer',
          minimum: 1,
          maximum: 2,
          description: '1 for a mixed recording, 2 for caller and agent on separate channels.',
        },
        size_bytes: { type: 'integer', minimum: 0, description: 'Size of the file in bytes.' },
        expires_at: dateTime('When recording_url stops working'),
      },
      ['recording_id', 'call_id', 'recording_url'],
    ),
    example: {
      recording_id: 'rec_55501',
      call_id: 'call_123456',
      recording_url: 'https://recordings.rizler.example/rec_55501.mp3?expires=1705920600',
      duration: 168,
      format: 'mp3',
      channels: 2,
      size_bytes: 2688000,
      expires_at: '2024-01-22T10:30:00Z',
    },
  },
  {
    name: 'transcript.ready',
    family: 'transcript',
    description:
      'The transcript of a call recording is ready, as full text and as timed segments per speaker.',
    schema: object(
      {
        transcript_id: id('The transcript.'),
        call_id: callId,
        recording_id: id('The recording that was transcribed.'),
        language: {
          type: 'string',
          minLength: 2,
          description: 'The spoken language as a BCP 47 tag, such as en-US.',
        },
        text: { type: 'string', description: 'The whole conversation as plain text.' },
        segments: {
          type: 'array',
          description: 'The conversation turn by turn, in order.',
          items: {
            ...object(
              {
                speaker: oneOf(['agent', 'caller'], 'Who is speaking.'),
                start: {
                  type: 'number',
                  minimum: 0,
                  description:
                    'Where the segment starts, in seconds from the start of the recording.',
                },
                end: {
                  type: 'number',
                  minimum: 0,
                  description:
                    'Where the segment ends, in seconds from the start of the recording.',
                },
                text: { type: 'string', description: 'What was said.' },
                confidence: {
                  type: 'number',
                  minimum: 0,
                  maximum: 1,
                  description: 'How sure the speech recognition is, from 0 to 1.',
                },
              },
              ['speaker', 'start', 'end', 'text'],
              'TranscriptSegment',
            ),
            description: "One speaker's turn in the conversation.",
          },
        },
      },
      ['transcript_id', 'call_id', 'text'],
    ),
    example: {
      transcript_id: 'trn_88201',
      call_id: 'call_123456',
      recording_id: 'rec_55501',
      language: 'en-US',
      text: 'Thanks for calling Rizler support, this is Sam. Hi Sam, my invoice shows two charges for January.',
      segments: [
        {
          speaker: 'agent',
          start: 0.4,
          end: 3.1,
          text: 'Thanks for calling Rizler support, this is Sam.',
          confidence: 0.97,
        },
        {
          speaker: 'caller',
          start: 3.6,
          end: 7.2,
          text: 'Hi Sam, my invoice shows two charges for January.',
          confidence: 0.93,
        },
      ],
    },
  },
  {
    name: 'voicemail.received',
    family: 'voicemail',
    description:
      'A caller left a voicemail; the recording and, when available, its transcription are attached.',
    schema: object(
      {
        voicemail_id: id('The voicemail.'),
        call_id: callId,
        mailbox_id: id('The mailbox that took the message.'),
        from: phone('The number that left the message'),
        to: called,
        duration: seconds('Length of the message'),
        recording_url: url('Where to download the message audio.'),
        transcription: {
          type: ['string', 'null'],
          description: 'The message as text; null when it could not be transcribed.',
        },
        received_at: dateTime('When the message was left'),
      },
      ['voicemail_id', 'call_id', 'from', 'recording_url'],
    ),
    example: {
      voicemail_id: 'vm_3101',
      call_id: 'call_123459',
      mailbox_id: 'mbx_support',
      from: '+14155550177',
      to: ACCOUNT_NUMBER,
      duration: 24,
      recording_url: 'https://recordings.rizler.example/vm_3101.mp3?expires=1705922400',
      transcription: 'Hi, this is Dana from Acme. Please call me back about our renewal.',
      received_at: '2024-01-15T19:05:12Z',
    },
  },
  {
    name: 'agent.status_changed',
    family: 'agent',
    description: "An agent's availability changed, for example from available to on a break.",
    schema: object(
      {
        agent_id: id('The agent.'),
        from_status: oneOf(AGENT_STATUSES, 'The status before the change.'),
        to_status: oneOf(AGENT_STATUSES, 'The status after the change.'),
        reason: {
          type: ['string', 'null'],
          description:
            'Why the status changed, as the agent or the platform gave it; null when none was given.',
        },
        changed_at: dateTime('When the status changed'),
      },
      ['agent_id', 'from_status', 'to_status'],
    ),
    example: {
      agent_id: 'agent_789',
      from_status: 'available',
      to_status: 'break',
      reason: 'Lunch',
      changed_at: '2024-01-15T12:00:03Z',
    },
  },
  {
    name: 'agent.created',
    family: 'agent',
    description: 'A new agent was added to the account.',
    schema: object(
      {
        agent_id: id('The new agent.'),
        name: { type: 'string', minLength: 1, description: "The agent's display name." },
        email: { type: 'string', format: 'email', description: "The agent's email address." },
        extension: {
          type: ['string', 'null'],
          pattern: '^[0-9]{2,6}$',
          description: "The agent's internal extension, 2 to 6 digits; null when none.",
        },
        role: oneOf(['agent', 'supervisor', 'admin'], 'What the agent may do on the platform.'),
        team_id: nullableId('The team the agent belongs to; null when none.'),
        created_at: dateTime('When the agent was added'),
      },
      ['agent_id', 'name'],
    ),
    example: {
      agent_id: 'agent_790',
      name: 'Sam Rivera',
      email: 'sam.rivera@example.com',
      extension: '2042',
      role: 'agent',
      team_id: 'team_support',
      created_at: '2024-01-15T09:00:00Z',
    },
  },
  {
    name: 'agent.deleted',
    family: 'agent',
    description: 'An agent was removed from the account; their past calls and recordings are kept.',
    schema: object(
      {
        agent_id: id('The removed agent.'),
        deleted_by: nullableId('The user who removed the agent; null when the platform did.'),
        deleted_at: dateTime('When the agent was removed'),
      },
      ['agent_id'],
    ),
    example: {
      agent_id: 'agent_790',
      deleted_by: 'user_12',
      deleted_at: '2024-01-15T18:45:00Z',
    },
  },
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export const EVENT_TYPES: readonly EventTypeDefinition[] = deepFreeze([
  ...DEFINITIONS,
  ...OPERATIONAL_EVENT_TYPES,
]);

const BY_NAME = new Map(EVENT_TYPES.map((t) => [t.name, t]));
const FAMILIES = new Set(EVENT_TYPES.map((t) => t.family));

export function findEventType(name: string): EventTypeDefinition | undefined {
  return BY_NAME.get(name);
}

export function isKnownEventType(name: string): boolean {
  return BY_NAME.has(name);
}

/** An exact known type, `family.*` of a known family, or `*`. */
export function isValidSubscription(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return FAMILIES.has(pattern.slice(0, -2));
  return BY_NAME.has(pattern);
}

/**
 * A comma-separated list of subscriptions (`call.*,agent.created`), as `listen` takes it:
 * the patterns (`*` when there are none) and those of them that are not valid.
 */
export function parseSubscriptionList(value: string | undefined): {
  patterns: string[];
  invalid: string[];
} {
  const patterns = (value ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const invalid = patterns.filter((p) => !isValidSubscription(p));
  return { patterns: patterns.length === 0 ? ['*'] : patterns, invalid };
}

export function subscriptionMatches(patterns: readonly string[], eventType: string): boolean {
  return patterns.some(
    (p) =>
      (p === '*' && !isOperationalEventType(eventType)) ||
      p === eventType ||
      (p.endsWith('.*') && eventType.startsWith(p.slice(0, -1))),
  );
}
