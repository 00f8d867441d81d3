import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createApi } from '../api/client.js';
import type { Account, Branding, EventType } from '../api/types.js';
import { ActivityPage } from '../activity/ActivityPage.js';
import { BrandMark } from './branding.js';
import { isEmbedded, isPortalSession } from './session.js';
import { DeliveryPage } from '../deliveries/DeliveryPage.js';
import { TestEndpointPage } from '../testing/TestEndpointPage.js';
import { WebhookPage } from '../webhooks/WebhookPage.js';
import { WebhooksPage } from '../webhooks/WebhooksPage.js';
import { EmptyState } from '../components/States.js';
import { type Session, SessionContext, useSession } from './context.js';
import { type Route, href, useRoute } from './router.js';
import { KEY_NOT_ACCEPTED } from './SignIn.js';
import { useResource } from './useResource.js';

interface Toast {
  id: number;
  message: string;
}

const TOAST_MS = 5000;
const MAX_TOASTS = 3;

/** The sidebar's entries: every other page (a webhook, a delivery) belongs to Webhooks. */
type Section = 'webhooks' | 'test-endpoint' | 'activity';

function NavLink({ to, current, children }: { to: Section; current: Section; children: string }) {
  return (
    <li>
      <a
        href={href({ name: to })}
        className="nav-link"
        aria-current={to === current ? 'page' : undefined}
      >
        {children}
      </a>
    </li>
  );
}

function pageKey(route: Route): string {
  switch (route.name) {
    case 'webhook':
    case 'delivery':
      return `${route.name}:${route.id}`;
    default:
      return route.name;
  }
}

export function Shell({
  apiKey,
  branding,
  account,
  onAccount,
  onSignOut,
}: {
  apiKey: string;
  branding: Branding;
  account: Account;
  onAccount: (account: Account) => void;
  onSignOut: (notice?: string) => void;
}) {
  const route = useRoute();
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextToast = useRef(1);
  const mainRef = useRef<HTMLElement>(null);

  const api = useMemo(
    () => createApi(apiKey, () => onSignOut(`${KEY_NOT_ACCEPTED} Sign in again.`)),
    [apiKey, onSignOut],
  );
  const eventTypesResource = useResource('event-types', (signal) =>
    api.get<{ data: EventType[] }>('/v1/event-types', signal),
  );

  const refreshAccount = useCallback(() => {
    api
      .get<Account>('/v1/account')
      .then(onAccount)
      .catch(() => {
        // The usage line keeps its last value; the next refresh corrects it.
      });
  }, [api, onAccount]);

  const notify = useCallback((message: string) => {
    const id = nextToast.current++;
    setToasts((previous) => [...previous, { id, message }].slice(-MAX_TOASTS));
    setTimeout(
      () => setToasts((previous) => previous.filter((toast) => toast.id !== id)),
      TOAST_MS,
    );
  }, []);

  const session: Session = useMemo(
    () => ({
      api,
      account,
      refreshAccount,
      eventTypes: {
        data: eventTypesResource.data?.data,
        error: eventTypesResource.error,
        loading: eventTypesResource.loading,
        reload: eventTypesResource.reload,
      },
      notify,
      signOut: () => onSignOut('You are signed out.'),
      canManage: account.access ? account.access.scopes.includes('manage') : true,
    }),
    [api, account, refreshAccount, eventTypesResource, notify, onSignOut],
  );

  // A new page moves focus to the main region, so keyboard and screen-reader users start
  // there instead of at a link that no longer exists.
  const key = pageKey(route);
  const firstPage = useRef(true);
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [key]);

  const section: Section =
    route.name === 'test-endpoint' || route.name === 'activity' ? route.name : 'webhooks';
  const embedded = isEmbedded();
  const readOnlyNotice = !session.canManage && (
    <p className="notice-bar" role="note">
      Read-only access: you can look at webhooks and their logs, but not change them.
    </p>
  );

  return (
    <SessionContext.Provider value={session}>
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <div className={embedded ? 'app app-embedded' : 'app'}>
        {!embedded && (
          <header className="topbar">
            <BrandMark branding={branding} />
            <div className="topbar-account">
              <span className="account-name" title={account.id}>
                {account.name}
              </span>
              {!isPortalSession() && (
                <button
                  type="button"
                  className="button button-ghost button-small"
                  onClick={session.signOut}
                >
                  Sign out
                </button>
              )}
            </div>
          </header>
        )}
        {readOnlyNotice}
        <nav className="sidebar" aria-label="Main">
          <p className="nav-group-title" id="nav-setup">
            Setup
          </p>
          <ul className="nav-list" aria-labelledby="nav-setup">
            <NavLink to="webhooks" current={section}>
              Webhooks
            </NavLink>
            {session.canManage && (
              <NavLink to="test-endpoint" current={section}>
                Test endpoint
              </NavLink>
            )}
            <NavLink to="activity" current={section}>
              Activity
            </NavLink>
          </ul>
        </nav>
        <main id="main" ref={mainRef} tabIndex={-1} className="content">
          <Page route={route} />
        </main>
      </div>
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((toast) => (
          <p key={toast.id} className="toast">
            {toast.message}
          </p>
        ))}
      </div>
    </SessionContext.Provider>
  );
}

/** A read-only session sends nothing, tests included. */
function TestEndpointOrNot({ initialUrl }: { initialUrl?: string }) {
  const { canManage } = useSession();
  if (canManage) return <TestEndpointPage initialUrl={initialUrl} />;
  return (
    <EmptyState title="Read-only access">
      <p>Sending a test needs access that can manage webhooks.</p>
    </EmptyState>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'webhooks':
      return <WebhooksPage />;
    case 'webhook':
      return <WebhookPage key={route.id} id={route.id} tab={route.tab} delivery={route.delivery} />;
    case 'test-endpoint':
      return <TestEndpointOrNot initialUrl={route.url} />;
    case 'activity':
      return <ActivityPage />;
    case 'delivery':
      return <DeliveryPage key={route.id} id={route.id} />;
    case 'not-found':
      return (
        <>
          <h1 id="page-title" tabIndex={-1}>
            Page not found
          </h1>
          <EmptyState title="There is nothing at this address">
            <p>Use the navigation to go to Webhooks or Test endpoint.</p>
          </EmptyState>
        </>
      );
  }
}
