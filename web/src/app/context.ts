import { createContext, useContext } from 'react';
import type { Api } from '../api/client.js';
import type { Account, EventType } from '../api/types.js';
import type { Resource } from './useResource.js';

export interface Session {
  api: Api;
  account: Account;
  refreshAccount: () => void;
  eventTypes: Resource<EventType[]>;
  notify: (message: string) => void;
  signOut: () => void;
  /** The credential may change things (scope `manage`); a read-only session shows no control that does. */
  canManage: boolean;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession() outside a signed-in dashboard');
  return session;
}
