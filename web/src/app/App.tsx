import { useCallback, useEffect, useState } from 'react';
import { type ApiError, request, toApiError } from '../api/client.js';
import type { Account } from '../api/types.js';
import { Loading } from '../components/States.js';
import { BrandMark, useBranding } from './branding.js';
import {
  clearApiKey,
  isEmbedded,
  isPortalSession,
  loadApiKey,
  saveApiKey,
  takePortalToken,
} from './session.js';
import { Shell } from './Shell.js';
import { KEY_NOT_ACCEPTED, SignIn } from './SignIn.js';

type Auth =
  | { phase: 'signed-out'; notice?: string }
  | { phase: 'session-ended' }
  | { phase: 'checking'; apiKey: string; error?: ApiError }
  | { phase: 'signed-in'; apiKey: string; account: Account };

export function App() {
  const branding = useBranding();
  const [auth, setAuth] = useState<Auth>(() => {
    const stored = takePortalToken() ?? loadApiKey();
    if (!stored && isPortalSession()) return { phase: 'session-ended' };
    return stored ? { phase: 'checking', apiKey: stored } : { phase: 'signed-out' };
  });

  const check = useCallback(async (apiKey: string) => {
    setAuth({ phase: 'checking', apiKey });
    try {
      const account = await request<Account>(apiKey, 'GET', '/v1/account');
      setAuth({ phase: 'signed-in', apiKey, account });
    } catch (caught) {
      const error = toApiError(caught);
      if (error.status === 401) {
        clearApiKey();
        setAuth(
          isPortalSession()
            ? { phase: 'session-ended' }
            : { phase: 'signed-out', notice: `${KEY_NOT_ACCEPTED} Sign in again.` },
        );
      } else {
        setAuth({ phase: 'checking', apiKey, error });
      }
    }
  }, []);

  const storedKey = auth.phase === 'checking' && !auth.error ? auth.apiKey : null;
  useEffect(() => {
    if (storedKey) void check(storedKey);
    // Only the key found at start is checked here; a sign-in checks its own.
  }, []);

  // A portal session that ends (expired, or refused) has no sign-in form to fall back to:
  // the page says the session ended, and the platform's app opens a new one.
  const signOut = useCallback((notice?: string) => {
    clearApiKey();
    setAuth(isPortalSession() ? { phase: 'session-ended' } : { phase: 'signed-out', notice });
  }, []);

  const expiresAt = auth.phase === 'signed-in' ? (auth.account.access?.expires_at ?? null) : null;
  useEffect(() => {
    if (!expiresAt) return;
    const timer = setTimeout(
      () => signOut('Your session has ended.'),
      Math.max(0, Date.parse(expiresAt) - Date.now()),
    );
    return () => clearTimeout(timer);
  }, [expiresAt, signOut]);

  // Stable, so that the shell's account refresh does not change with every render.
  const onAccount = useCallback((account: Account) => {
    setAuth((previous) => (previous.phase === 'signed-in' ? { ...previous, account } : previous));
  }, []);

  switch (auth.phase) {
    case 'session-ended':
      return (
        <div className="signin-page">
          <main className="signin-card">
            {!isEmbedded() && <BrandMark branding={branding} />}
            <div className="state" role="alert">
              <p className="state-title">Your session has ended</p>
              <p className="state-body">
                For your security, this page signs out after a while. Open Webhooks again from your
                app to continue.
              </p>
            </div>
          </main>
        </div>
      );
    case 'signed-out':
      return (
        <SignIn
          notice={auth.notice}
          onSignedIn={(apiKey, account) => {
            saveApiKey(apiKey);
            setAuth({ phase: 'signed-in', apiKey, account });
          }}
        />
      );
    case 'checking':
      return (
        <div className="signin-page">
          <main className="signin-card">
            {auth.error ? (
              <div className="state state-error" role="alert">
                <p className="state-title">Could not check your API key</p>
                <p className="state-body">{auth.error.message}</p>
                <div className="button-row">
                  <button
                    type="button"
                    className="button button-primary"
                    onClick={() => void check(auth.apiKey)}
                  >
                    Try again
                  </button>
                  <button
                    type="button"
                    className="button button-secondary"
                    onClick={() => signOut()}
                  >
                    Sign out
                  </button>
                </div>
              </div>
            ) : (
              <Loading label="Checking your API key…" />
            )}
          </main>
        </div>
      );
    case 'signed-in':
      return (
        <Shell
          key={auth.apiKey}
          branding={branding}
          apiKey={auth.apiKey}
          account={auth.account}
          onAccount={onAccount}
          onSignOut={signOut}
        />
      );
  }
}
