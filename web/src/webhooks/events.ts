// Event subscriptions: exact types (`call.ended`), a family (`call.*`) or everything (`*`).
import type { EventType } from '../api/types.js';
import {
  isOperationalEventType,
  OPERATIONAL_EVENT_TYPES,
} from '../../../src/core/operational-catalogue.js';

export const ALL_EVENTS = '*';

export interface Family {
  /** `call` */
  name: string;
  /** `Call` */
  title: string;
  /** `call.*` */
  wildcard: string;
  types: EventType[];
}

export function familyOf(eventName: string): string {
  const dot = eventName.indexOf('.');
  return dot === -1 ? eventName : eventName.slice(0, dot);
}

function titleOf(family: string): string {
  return family.charAt(0).toUpperCase() + family.slice(1);
}

/** The catalogue grouped by family, in the catalogue's order of first appearance. */
export function groupByFamily(types: EventType[]): Family[] {
  const families = new Map<string, Family>();
  for (const type of types) {
    const name = familyOf(type.name);
    let family = families.get(name);
    if (!family) {
      family = { name, title: titleOf(name), wildcard: `${name}.*`, types: [] };
      families.set(name, family);
    }
    family.types.push(type);
  }
  return [...families.values()];
}

/** Operational types (SPEC §11) and their families: `*` does not cover them. */
export function isOperationalToken(token: string): boolean {
  if (token.endsWith('.*')) {
    const family = token.slice(0, -2);
    return OPERATIONAL_EVENT_TYPES.some((t) => t.family === family);
  }
  return isOperationalEventType(token);
}

/** The token of `selection` that already covers `token`, if a broader one does. */
export function coveredBy(selection: ReadonlySet<string>, token: string): string | null {
  if (token !== ALL_EVENTS && selection.has(ALL_EVENTS) && !isOperationalToken(token)) {
    return ALL_EVENTS;
  }
  if (!token.endsWith('.*') && token !== ALL_EVENTS) {
    const wildcard = `${familyOf(token)}.*`;
    if (selection.has(wildcard)) return wildcard;
  }
  return null;
}

export function isSelected(selection: ReadonlySet<string>, token: string): boolean {
  return selection.has(token) || coveredBy(selection, token) !== null;
}

/**
 * What to send to the API: the broadest tokens only. Narrower picks under a checked
 * wildcard stay in the form's state (unchecking the wildcard brings them back) but are
 * not sent.
 */
export function normalizeSelection(selection: ReadonlySet<string>): string[] {
  if (selection.has(ALL_EVENTS)) {
    const operational = [...selection].filter(
      (t) => isOperationalToken(t) && coveredBy(selection, t) === null,
    );
    return [ALL_EVENTS, ...operational.sort()];
  }
  return [...selection].filter((token) => coveredBy(selection, token) === null).sort();
}

/** Subscribed tokens the catalogue does not list (kept so an edit does not drop them). */
export function unknownTokens(selection: ReadonlySet<string>, types: EventType[]): string[] {
  const known = new Set<string>([ALL_EVENTS]);
  for (const family of groupByFamily(types)) {
    known.add(family.wildcard);
    for (const type of family.types) known.add(type.name);
  }
  return [...selection].filter((token) => !known.has(token));
}
