import type { ControlProps } from './Field.js';

// Controls that several forms ask for in the same way; each goes inside a Field, which
// hands it `control` (id and the aria wiring of its hint and error).

interface TextControlProps {
  control: ControlProps;
  value: string;
  onChange: (value: string) => void;
}

/** An endpoint URL: no autocorrection or autofill, a URL keyboard on phones. */
export function UrlInput({
  control,
  value,
  onChange,
  autoFocus,
}: TextControlProps & { autoFocus?: boolean }) {
  return (
    <input
      {...control}
      data-autofocus={autoFocus || undefined}
      className="input"
      type="url"
      inputMode="url"
      autoComplete="off"
      spellCheck={false}
      placeholder="https://example.com/webhooks/rizler"
      value={value}
      onChange={(event) => onChange(event.target.value)}
    />
  );
}

/** A signing secret (whsec_…), typed or pasted: monospaced, never autofilled or corrected. */
export function SecretInput({ control, value, onChange }: TextControlProps) {
  return (
    <input
      {...control}
      className="input input-mono"
      type="text"
      autoComplete="off"
      spellCheck={false}
      value={value}
      onChange={(event) => onChange(event.target.value)}
    />
  );
}

/** An on/off switch with its state in words beside it (`on` or `off`). */
export function Switch({
  control,
  checked,
  onChange,
  on,
  off,
}: {
  control: ControlProps;
  checked: boolean;
  onChange: (checked: boolean) => void;
  on: string;
  off: string;
}) {
  return (
    <div className="switch-row">
      <input
        {...control}
        className="switch"
        type="checkbox"
        role="switch"
        checked={checked}
        onChange={(event) => onChange(event.target.checked)}
      />
      <span className="switch-state" aria-hidden="true">
        {checked ? on : off}
      </span>
    </div>
  );
}
