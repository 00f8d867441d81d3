// Activity: the account's audit log (GET /v1/audit-log), newest first, with who made each
// change and what it changed.
import { useCallback, useEffect, useState } from 'react';
import { toApiError } from '../api/client.js';
import type { AuditEntry } from '../api/types.js';
import { useSession } from '../app/context.js';
import { EmptyState, Loading } from '../components/States.js';

const ACTORS: Record<AuditEntry['actor']['type'], string> = {
  api_key: 'API key',
  portal_session: 'Dashboard session',
  admin: 'Platform operator',
  system: 'System',
};

function show(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function ActivityPage() {
  const { api } = useSession();
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (after: string | null) => {
      setLoading(true);
      setError(null);
      try {
        const page = await api.get<{ data: AuditEntry[]; next_cursor: string | null }>(
          `/v1/audit-log?limit=50${after ? `&cursor=${encodeURIComponent(after)}` : ''}`,
        );
        setEntries((previous) => (after ? [...previous, ...page.data] : page.data));
        setCursor(page.next_cursor);
      } catch (caught) {
        setError(toApiError(caught).message);
      } finally {
        setLoading(false);
      }
    },
    [api],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Activity
      </h1>
      <p className="page-intro">Every change to this account, its keys, webhooks and secrets.</p>
      {error && (
        <div className="state state-error" role="alert">
          <p className="state-body">{error}</p>
        </div>
      )}
      {entries.length === 0 && loading && <Loading label="Loading activity…" />}
      {entries.length === 0 && !loading && !error && (
        <EmptyState title="No activity yet">
          <p>Changes to webhooks, secrets and keys will appear here.</p>
        </EmptyState>
      )}
      {entries.length > 0 && (
        <table className="table activity-table">
          <caption className="visually-hidden">Activity, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Changes</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.id}>
                <td>
                  <time dateTime={entry.at}>{new Date(entry.at).toLocaleString()}</time>
                </td>
                <td>
                  {ACTORS[entry.actor.type]}
                  {entry.actor.id && <span className="muted mono"> {entry.actor.id}</span>}
                </td>
                <td>
                  <span className="mono">{entry.action}</span>
                  <span className="muted mono"> {entry.target_id}</span>
                </td>
                <td>
                  <ul className="activity-changes">
                    {Object.entries(entry.changes).map(([field, change]) => (
                      <li key={field}>
                        <span className="mono">{field}</span>: {show(change.old)} →{' '}
                        {show(change.new)}
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button
          type="button"
          className="button button-secondary"
          disabled={loading}
          onClick={() => void load(cursor)}
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </>
  );
}
