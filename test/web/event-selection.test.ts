// The Events field's rules: what a wildcard covers and what the form sends to the API.
import { describe, expect, it } from 'vitest';
import type { EventType } from '../../web/src/api/types.js';
import {
  coveredBy,
  groupByFamily,
  isSelected,
  normalizeSelection,
  unknownTokens,
} from '../../web/src/webhooks/events.js';

const type = (name: string): EventType => ({ name, description: '', example: {} });
const catalogue = ['call.started', 'call.ended', 'recording.ready', 'agent.created'].map(type);

describe('event selection', () => {
  it('groups the catalogue by family, in catalogue order', () => {
    expect(
      groupByFamily(catalogue).map((family) => [family.wildcard, family.types.length]),
    ).toEqual([
      ['call.*', 2],
      ['recording.*', 1],
      ['agent.*', 1],
    ]);
  });

  it('treats a type under a checked wildcard as selected and covered', () => {
    const selection = new Set(['call.*']);
    expect(isSelected(selection, 'call.ended')).toBe(true);
    expect(coveredBy(selection, 'call.ended')).toBe('call.*');
    expect(isSelected(selection, 'agent.created')).toBe(false);
    expect(coveredBy(new Set(['*']), 'call.*')).toBe('*');
    expect(coveredBy(new Set(['*']), '*')).toBeNull();
  });

  it('sends only the broadest tokens', () => {
    expect(normalizeSelection(new Set(['call.ended', 'call.*', 'agent.created']))).toEqual([
      'agent.created',
      'call.*',
    ]);
    expect(normalizeSelection(new Set(['call.ended', '*']))).toEqual(['*']);
    expect(normalizeSelection(new Set())).toEqual([]);
  });

  it('keeps subscriptions the catalogue does not list', () => {
    expect(unknownTokens(new Set(['call.ended', 'fax.received', '*']), catalogue)).toEqual([
      'fax.received',
    ]);
  });

  it('keeps operational events out of "All events": they are chosen by name or family', () => {
    const all = new Set(['*']);
    expect(coveredBy(all, 'webhook.disabled')).toBeNull();
    expect(coveredBy(all, 'delivery.*')).toBeNull();
    expect(isSelected(all, 'webhook.disabled')).toBe(false);
    expect(
      normalizeSelection(new Set(['*', 'call.ended', 'webhook.*', 'webhook.enabled'])),
    ).toEqual(['*', 'webhook.*']);
  });
});
