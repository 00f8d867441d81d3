import type { Webhook } from '../api/types.js';
import { EventChips, WebhookStatusBadge } from '../components/Badges.js';
import { Fact } from '../components/Fact.js';
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
          <Fact term="Endpoint URL" className="break">
            {webhook.url}
          </Fact>
          <Fact term="Events">
            <EventChips events={webhook.events} max={50} />
          </Fact>
          <Fact term="Status">
            <WebhookStatusBadge webhook={webhook} />
          </Fact>
          <Fact term="Delivery">
            <ThrottleState throttle={webhook.throttle} />
          </Fact>
          <Fact term="Rate limit">
            {webhook.rate_limit_per_minute != null
              ? `${webhook.rate_limit_per_minute} deliveries per minute`
              : 'Server default'}
          </Fact>
          <Fact term="Custom headers">
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
          </Fact>
          <Fact term="Content filter">
            {webhook.filter ? (
              <code className="break">{JSON.stringify(webhook.filter)}</code>
            ) : (
              <span className="muted">None: every event of the chosen types</span>
            )}
          </Fact>
          <Fact term="Description">
            {webhook.description ?? <span className="muted">None</span>}
          </Fact>
          <Fact term="ID">
            <code>{webhook.id}</code>
          </Fact>
          <Fact term="Created">
            <AbsoluteTime iso={webhook.created_at} />
          </Fact>
          <Fact term="Updated">
            <AbsoluteTime iso={webhook.updated_at} />
          </Fact>
        </dl>
      </section>
    </div>
  );
}
