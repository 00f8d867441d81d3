import { type FormEvent, useEffect, useState } from 'react';
import { toApiError } from '../api/client.js';
import type { Webhook } from '../api/types.js';
import { useSession } from '../app/context.js';
import { Dialog, DialogActions, useDialogAction } from '../components/Dialog.js';
import { Field } from '../components/Field.js';
import { SecretInput } from '../components/Inputs.js';
import { ActionStatus } from '../components/States.js';

const MASK = 'whsec_••••••••••••••••••••••••';

export function SecretPanel({ webhook }: { webhook: Webhook }) {
  const { api, notify, canManage } = useSession();
  const [secret, setSecret] = useState<string | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string>('');
  const [rotating, setRotating] = useState(false);

  useEffect(() => {
    if (!status) return;
    const timer = setTimeout(() => setStatus(''), 4000);
    return () => clearTimeout(timer);
  }, [status]);

  const fetchSecret = async (): Promise<string | null> => {
    if (secret !== null) return secret;
    setBusy(true);
    setError(null);
    try {
      const result = await api.get<{ secret: string }>(
        `/v1/webhooks/${encodeURIComponent(webhook.id)}/secret`,
      );
      setSecret(result.secret);
      return result.secret;
    } catch (caught) {
      setError(toApiError(caught).message);
      return null;
    } finally {
      setBusy(false);
    }
  };

  const toggleReveal = async () => {
    if (revealed) {
      setRevealed(false);
      return;
    }
    if ((await fetchSecret()) !== null) setRevealed(true);
  };

  const copy = async () => {
    const value = await fetchSecret();
    if (value === null) return;
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(value);
      setStatus('Secret copied to the clipboard.');
    } catch {
      setRevealed(true);
      setStatus(
        'This browser did not allow copying. The secret is shown: select it and copy it by hand.',
      );
    }
  };

  return (
    <section className="card" aria-labelledby="secret-title">
      <h2 id="secret-title" className="card-title">
        Signing secret
      </h2>
      <p className="card-lead">
        Every request carries <code>webhook-signature</code> (Standard Webhooks) and{' '}
        <code>X-Rizler-Signature</code>, both made with this secret. Verify one of them before
        trusting a request.
      </p>
      <div className="secret-row">
        <code className="secret-value">
          {revealed && secret !== null ? (
            secret
          ) : (
            <>
              <span aria-hidden="true">{MASK}</span>
              <span className="visually-hidden">Hidden secret</span>
            </>
          )}
        </code>
        <div className="button-row">
          <button
            type="button"
            className="button button-secondary"
            onClick={toggleReveal}
            disabled={busy}
          >
            {revealed ? 'Hide' : 'Reveal'}
          </button>
          <button type="button" className="button button-secondary" onClick={copy} disabled={busy}>
            Copy
          </button>
          {canManage && (
            <button
              type="button"
              className="button button-secondary"
              onClick={() => setRotating(true)}
            >
              Rotate secret
            </button>
          )}
        </div>
      </div>
      <ActionStatus status={status} error={error} />
      {rotating && (
        <RotateDialog
          webhook={webhook}
          onClose={() => setRotating(false)}
          onRotated={(next) => {
            setRotating(false);
            setSecret(next);
            setRevealed(next !== null);
            notify('Secret rotated. The old secret keeps signing webhook-signature for 24 hours.');
          }}
        />
      )}
    </section>
  );
}

function RotateDialog({
  webhook,
  onClose,
  onRotated,
}: {
  webhook: Webhook;
  onClose: () => void;
  onRotated: (secret: string | null) => void;
}) {
  const { api } = useSession();
  const [custom, setCustom] = useState('');
  const { busy, error, run } = useDialogAction();

  const rotate = async (event: FormEvent) => {
    event.preventDefault();
    await run(async () => {
      const path = `/v1/webhooks/${encodeURIComponent(webhook.id)}/secret`;
      const result = await api.post<{ secret?: string } | undefined>(
        `${path}/rotate`,
        custom.trim() ? { secret: custom.trim() } : {},
      );
      const next =
        result && typeof result.secret === 'string'
          ? result.secret
          : (await api.get<{ secret: string }>(path)).secret;
      onRotated(next);
    });
  };

  return (
    <Dialog
      title="Rotate the signing secret?"
      onClose={onClose}
      footer={
        <DialogActions onCancel={onClose} focusCancel>
          <button
            type="submit"
            form="rotate-form"
            className="button button-primary"
            disabled={busy}
          >
            {busy ? 'Rotating…' : 'Rotate secret'}
          </button>
        </DialogActions>
      }
    >
      <form id="rotate-form" className="form" onSubmit={rotate} noValidate>
        <p>
          A new secret signs every request from now on. For the next <strong>24 hours</strong> the
          old secret keeps signing too: <code>webhook-signature</code> carries a signature made with
          each, so receivers keep verifying while you deploy the new secret.
        </p>
        <p className="muted">
          <code>X-Rizler-Signature</code> holds a single signature, made with the current secret:
          receivers that check it need the new secret at once.
        </p>
        <Field
          label="New secret"
          optional
          hint="Leave empty to generate one (whsec_…)."
          error={error ?? undefined}
        >
          {(control) => <SecretInput control={control} value={custom} onChange={setCustom} />}
        </Field>
      </form>
    </Dialog>
  );
}
