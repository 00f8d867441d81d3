import { type FormEvent, useState } from 'react';
import { request, toApiError } from '../api/client.js';
import type { Account } from '../api/types.js';

export const KEY_NOT_ACCEPTED = 'That API key was not accepted.';

/** Checks a key against `GET /v1/account`; the account is the proof it works. */
export function SignIn({
  notice,
  onSignedIn,
}: {
  notice?: string;
  onSignedIn: (apiKey: string, account: Account) => void;
}) {
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const key = apiKey.trim();
    if (!key) {
      setError('Enter the API key of your account.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const account = await request<Account>(key, 'GET', '/v1/account');
      onSignedIn(key, account);
    } catch (caught) {
      const apiError = toApiError(caught);
      setError(apiError.status === 401 ? KEY_NOT_ACCEPTED : apiError.message);
      setBusy(false);
    }
  };

  return (
    <div className="signin-page">
      <main className="signin-card" aria-labelledby="signin-title">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true" />
          <span>Rizler Webhooks</span>
        </div>
        <h1 id="signin-title">Sign in</h1>
        <p className="muted">
          Use your account's API key. It stays in this browser tab only and is forgotten when the
          tab closes.
        </p>
        {notice && (
          <p className="notice notice-info" role="status">
            {notice}
          </p>
        )}
        <form className="form" onSubmit={submit} noValidate>
          <div className={`field${error ? ' field-invalid' : ''}`}>
            <label htmlFor="api-key" className="field-label">
              API key
            </label>
            <input
              id="api-key"
              className="input input-mono"
              type="password"
              autoComplete="off"
              spellCheck={false}
              autoFocus
              value={apiKey}
              onChange={(event) => setApiKey(event.target.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? 'api-key-error' : 'api-key-hint'}
            />
            {error ? (
              <p id="api-key-error" className="field-error" role="alert">
                {error}
              </p>
            ) : (
              <p id="api-key-hint" className="field-hint">
                Printed by <code>rizler-webhooks accounts create</code>, or at the first start of
                the server.
              </p>
            )}
          </div>
          <button type="submit" className="button button-primary button-block" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </main>
    </div>
  );
}
