import { type ReactNode, useEffect, useId, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { toApiError } from '../api/client.js';

interface DialogProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  /** Buttons at the bottom; when absent the body scrolls to the end. */
  footer?: ReactNode;
  size?: 'small' | 'medium' | 'large';
  description?: string;
}

// Modal dialogs open in the top layer (showModal makes the page behind inert and keeps
// focus inside). The page root is also marked aria-hidden so that what assistive
// technology and role-based test queries see matches what is on screen.
let openDialogs = 0;

/**
 * A modal dialog that is open while mounted. Focus moves to the first element marked
 * `data-autofocus` (else the first focusable one), Escape closes, and focus returns to
 * whatever opened it.
 */
export function Dialog({
  title,
  onClose,
  children,
  footer,
  size = 'medium',
  description,
}: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = document.getElementById('root');
    let mounted = true;
    dialog.showModal();
    const preferred = dialog.querySelector<HTMLElement>('[data-autofocus]');
    preferred?.focus();
    openDialogs += 1;
    root?.setAttribute('aria-hidden', 'true');

    const onCancel = (event: Event) => {
      event.preventDefault();
      onCloseRef.current();
    };
    // A browser may close the dialog itself (a second Escape); keep React's state in step.
    // (A close event queued by an earlier close() arrives while the dialog is open again.)
    const onNativeClose = () => {
      if (mounted && !dialog.open) onCloseRef.current();
    };
    dialog.addEventListener('cancel', onCancel);
    dialog.addEventListener('close', onNativeClose);
    return () => {
      mounted = false;
      dialog.removeEventListener('cancel', onCancel);
      dialog.removeEventListener('close', onNativeClose);
      if (dialog.open) dialog.close();
      openDialogs -= 1;
      if (openDialogs === 0) root?.removeAttribute('aria-hidden');
      if (opener && opener.isConnected) opener.focus();
    };
  }, []);

  return createPortal(
    <dialog
      ref={ref}
      className={`dialog dialog-${size}`}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
    >
      <div className="dialog-header">
        <h2 id={titleId} className="dialog-title">
          {title}
        </h2>
        <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
          <span aria-hidden="true">×</span>
        </button>
      </div>
      {description && (
        <p id={descriptionId} className="dialog-description">
          {description}
        </p>
      )}
      <div className="dialog-body">{children}</div>
      {footer && <div className="dialog-footer">{footer}</div>}
    </dialog>,
    document.body,
  );
}

/**
 * A dialog's footer: Cancel, then the dialog's own action (`children`). A confirmation sets
 * `focusCancel`, so that it opens with the focus on the safe choice.
 */
export function DialogActions({
  onCancel,
  focusCancel,
  children,
}: {
  onCancel: () => void;
  focusCancel?: boolean;
  children: ReactNode;
}) {
  return (
    <>
      <button
        type="button"
        className="button button-secondary"
        onClick={onCancel}
        data-autofocus={focusCancel || undefined}
      >
        Cancel
      </button>
      {children}
    </>
  );
}

/**
 * The action that closes a confirmation dialog (rotate, delete). `busy` stays true on success,
 * as the dialog is closing; a failure keeps it open with the error and the action enabled.
 */
export function useDialogAction(): {
  busy: boolean;
  error: string | null;
  run: (action: () => Promise<void>) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(toApiError(caught).message);
      setBusy(false);
    }
  };
  return { busy, error, run };
}
