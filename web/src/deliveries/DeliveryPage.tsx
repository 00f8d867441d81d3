import { Breadcrumbs } from '../components/Breadcrumbs.js';
import { DeliveryView } from './DeliveryView.js';

/** One delivery on its own page: where "verify it in the logs" of a test send leads. */
export function DeliveryPage({ id }: { id: string }) {
  return (
    <>
      <Breadcrumbs items={[{ label: 'Setup' }, { label: 'Logs' }, { label: id }]} />
      <div className="page-header">
        <div>
          <h1 id="page-title" tabIndex={-1}>
            Delivery <code className="title-code">{id}</code>
          </h1>
        </div>
      </div>
      <div className="card">
        <DeliveryView id={id} level={2} showWebhookLink />
      </div>
    </>
  );
}
