import type { Webhook } from '../api/types.js';
import { EventChips, WebhookStatusBadge } from '../components/Badges.js';
import { AbsoluteTime } from '../components/Time.js';
import { isSecretLooking, maskValue } from './ControlsFields.js';
import { SecretPanel } from './SecretPanel.js';
import { SendTestPanel } from './SendTestPanel.js';
import { useSession } from '../app/context.js';
import { ThrottleState } from './ThrottleState.js';

export function OverviewTab({ webhook }: { webhook: Webhook }) {
  const { canManage } = useSession();
  return (
    <div className="overview-grid">
      <div className="overview-main">
        {canManage && <SendTestPanel webhook={webhook} />}
        <SecretPanel webhook={webhook} />
      </div>
      <section className="card" aria-labelledby="details-title">
        <h2 id="details-title" className="card-title">
          Details
        </h2>
        <dl className="details">
          <div>
            <dt>Endpoint URL</dt>
            <dd className="break">{webhook.url}</dd>
          </div>
          <div>
            <dt>Events</dt>
            <dd>
              <EventChips events={webhook.events} max={50} />
            </dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>
              <WebhookStatusBadge webhook={webhook} />
            </dd>
          </div>
          <div>
            <dt>Delivery</dt>
            <dd>
              <ThrottleState throttle={webhook.throttle} />
            </dd>
          </div>
          <div>
            <dt>Rate limit</dt>
            <dd>
              {webhook.rate_limit_per_minute != null
                ? `${webhook.rate_limit_per_minute} deliveries per minute`
                : 'Server default'}
            </dd>
          </div>
          <div>
            <dt>Custom headers</dt>
            <dd>
              {Object.keys(webhook.headers ?? {}).length === 0 ? (
                <span className="muted">None</span>
              ) : (
                <ul className="plain-list">
                  {Object.entries(webhook.headers ?? {}).map(([name, value]) => (
                    <li key={name}>
                      <code>
                        {name}: {isSecretLooking(name) ? maskValue(value) : value}
                      </code>
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </div>
          <div>
            <dt>Content filter</dt>
            <dd>
              {webhook.filter ? (
                <code className="break">{JSON.stringify(webhook.filter)}</code>
              ) : (
                <span className="muted">None: every event of the chosen types</span>
              )}
            </dd>
          </div>
          <div>
            <dt>Description</dt>
            <dd>{webhook.description ?? <span className="muted">None</span>}</dd>
          </div>
          <div>
            <dt>ID</dt>
            <dd>
              <code>{webhook.id}</code>
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <AbsoluteTime iso={webhook.created_at} />
            </dd>
          </div>
          <div>
            <dt>Updated</dt>
            <dd>
              <AbsoluteTime iso={webhook.updated_at} />
            </dd>
          </div>
        </dl>
      </section>
    </div>
  );
}
