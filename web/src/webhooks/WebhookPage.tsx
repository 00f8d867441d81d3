import { Suspense, lazy, useState } from 'react';
import { toApiError } from '../api/client.js';
import type { Webhook } from '../api/types.js';
import { useSession } from '../app/context.js';
import { type WebhookTab, navigate } from '../app/router.js';
import { useResource } from '../app/useResource.js';
import { WebhookStatusBadge, disabledReasonText } from '../components/Badges.js';
import { Breadcrumbs } from '../components/Breadcrumbs.js';
import { Dialog, DialogActions, useDialogAction } from '../components/Dialog.js';
import { EmptyState, ErrorMessage, Loading, StaleNotice } from '../components/States.js';
import { TabPanel, Tabs } from '../components/Tabs.js';
import { LogsTab } from '../deliveries/LogsTab.js';
import { OverviewTab } from './OverviewTab.js';
import { WebhookFormDialog } from './WebhookFormDialog.js';

// The charts library is most of the bundle's weight: load it when Monitoring is opened.
const MonitoringTab = lazy(() =>
  import('../monitoring/MonitoringTab.js').then((module) => ({ default: module.MonitoringTab })),
);

const TABS: { key: WebhookTab; label: string }[] = [
  { key: 'overview', label: 'Overview' },
  { key: 'logs', label: 'Logs' },
  { key: 'monitoring', label: 'Monitoring' },
];

export function WebhookPage({
  id,
  tab,
  delivery,
}: {
  id: string;
  tab: WebhookTab;
  delivery?: string;
}) {
  const { api, notify, refreshAccount, canManage } = useSession();
  const webhook = useResource(`webhook:${id}`, (signal) =>
    api.get<Webhook>(`/v1/webhooks/${encodeURIComponent(id)}`, signal),
  );
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [toggling, setToggling] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const crumbs = [
    { label: 'Setup' },
    { label: 'Webhooks' },
    { label: webhook.data?.url ?? 'Webhook' },
  ];

  if (webhook.loading) {
    return (
      <>
        <Breadcrumbs items={crumbs} />
        <h1 id="page-title" tabIndex={-1} className="visually-hidden">
          Webhook
        </h1>
        <Loading label="Loading the webhook…" />
      </>
    );
  }
  if (!webhook.data) {
    const notFound = webhook.error?.status === 404;
    return (
      <>
        <Breadcrumbs items={crumbs} />
        <h1 id="page-title" tabIndex={-1}>
          Webhook
        </h1>
        {notFound ? (
          <EmptyState title="This webhook does not exist">
            <p>It may have been deleted, or belong to another account.</p>
          </EmptyState>
        ) : (
          webhook.error && (
            <ErrorMessage
              title="Could not load the webhook"
              error={webhook.error}
              onRetry={webhook.reload}
            />
          )
        )}
      </>
    );
  }

  const data = webhook.data;
  const reason = disabledReasonText(data);
  const toggle = async () => {
    setToggling(true);
    setActionError(null);
    try {
      const next = data.status === 'enabled' ? 'disabled' : 'enabled';
      await api.patch<Webhook>(`/v1/webhooks/${encodeURIComponent(data.id)}`, { status: next });
      notify(next === 'enabled' ? 'Webhook enabled.' : 'Webhook disabled.');
      webhook.reload();
    } catch (error) {
      setActionError(toApiError(error).message);
    } finally {
      setToggling(false);
    }
  };

  return (
    <>
      <Breadcrumbs items={crumbs} />
      <div className="page-header">
        <div className="page-header-main">
          <h1 id="page-title" tabIndex={-1} className="title-url">
            {data.url}
          </h1>
          <div className="page-meta">
            <WebhookStatusBadge webhook={data} />
            <code className="id-code">{data.id}</code>
            {data.description && <span className="muted">{data.description}</span>}
          </div>
        </div>
        {canManage && (
          <div className="page-actions">
            <button
              type="button"
              className="button button-secondary"
              onClick={() => setEditing(true)}
            >
              Edit
            </button>
            <button
              type="button"
              className="button button-secondary"
              onClick={toggle}
              disabled={toggling}
            >
              {data.status === 'enabled' ? 'Disable' : 'Enable'}
            </button>
            <button
              type="button"
              className="button button-danger-outline"
              onClick={() => setDeleting(true)}
            >
              Delete
            </button>
          </div>
        )}
      </div>
      {actionError && (
        <p className="notice notice-danger" role="alert">
          {actionError}
        </p>
      )}
      <StaleNotice error={webhook.error} />
      {reason && data.disabled_reason !== 'manual' && (
        <p className="notice notice-warning" role="status">
          {reason}
        </p>
      )}

      <Tabs
        label="Webhook sections"
        idPrefix="webhook"
        items={TABS}
        selected={tab}
        onSelect={(key) => navigate({ name: 'webhook', id, tab: key }, { replace: true })}
      />
      <TabPanel idPrefix="webhook" tab={tab}>
        {tab === 'overview' && <OverviewTab webhook={data} />}
        {tab === 'logs' && <LogsTab webhook={data} openDelivery={delivery} />}
        {tab === 'monitoring' && (
          <Suspense fallback={<Loading label="Loading charts…" />}>
            <MonitoringTab webhook={data} />
          </Suspense>
        )}
      </TabPanel>

      {editing && (
        <WebhookFormDialog
          webhook={data}
          onClose={() => setEditing(false)}
          onSaved={() => {
            setEditing(false);
            notify('Webhook saved.');
            webhook.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteDialog
          webhook={data}
          onClose={() => setDeleting(false)}
          onDeleted={() => {
            setDeleting(false);
            notify(`Webhook ${data.url} deleted.`);
            refreshAccount();
            navigate({ name: 'webhooks' });
          }}
        />
      )}
    </>
  );
}

function DeleteDialog({
  webhook,
  onClose,
  onDeleted,
}: {
  webhook: Webhook;
  onClose: () => void;
  onDeleted: () => void;
}) {
  const { api } = useSession();
  const { busy, error, run } = useDialogAction();
  const confirm = () =>
    run(async () => {
      await api.delete(`/v1/webhooks/${encodeURIComponent(webhook.id)}`);
      onDeleted();
    });
  return (
    <Dialog
      title="Delete this webhook?"
      size="small"
      onClose={onClose}
      footer={
        <DialogActions onCancel={onClose} focusCancel>
          <button type="button" className="button button-danger" onClick={confirm} disabled={busy}>
            {busy ? 'Deleting…' : 'Delete webhook'}
          </button>
        </DialogActions>
      }
    >
      <p>
        Rizler stops sending events to <strong className="break">{webhook.url}</strong> at once,
        including deliveries waiting for a retry. This cannot be undone.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Dialog>
  );
}
