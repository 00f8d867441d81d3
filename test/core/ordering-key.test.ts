// The catalogue's default ordering key per type (SPEC §10), pure.
import { describe, expect, it } from 'vitest';
import { defaultOrderingKey } from '../../src/core/ordering-key.js';

describe('default ordering key', () => {
  it('is the call for call, recording, transcript and voicemail events', () => {
    for (const type of [
      'call.started',
      'recording.ready',
      'transcript.ready',
      'voicemail.received',
    ]) {
      expect(defaultOrderingKey(type, { call_id: 'call_1', agent_id: 'agent_9' })).toBe('call_1');
    }
  });

  it('is the agent for agent events', () => {
    expect(defaultOrderingKey('agent.status_changed', { agent_id: 'agent_9', call_id: 'c' })).toBe(
      'agent_9',
    );
  });

  it('takes a numeric id as its decimal text', () => {
    expect(defaultOrderingKey('call.ended', { call_id: 123456 })).toBe('123456');
  });

  it('is null when the field is missing, of another type, empty or too long', () => {
    expect(defaultOrderingKey('call.ended', {})).toBeNull();
    expect(defaultOrderingKey('call.ended', { call_id: { nested: 1 } })).toBeNull();
    expect(defaultOrderingKey('call.ended', { call_id: '' })).toBeNull();
    expect(defaultOrderingKey('call.ended', { call_id: 'x'.repeat(201) })).toBeNull();
    expect(defaultOrderingKey('call.ended', { call_id: Infinity })).toBeNull();
  });

  it('is null for a type without a default', () => {
    expect(defaultOrderingKey('webhook.disabled', { call_id: 'c' })).toBeNull();
    expect(defaultOrderingKey('nodot', { call_id: 'c' })).toBeNull();
  });
});
