import type { ReactNode } from 'react';

/**
 * One entry of a `<dl>` of facts about a thing (a webhook's details, a delivery's summary):
 * its name and its value. `wide` spans the row; `className` goes to the value.
 */
export function Fact({
  term,
  wide,
  className,
  children,
}: {
  term: string;
  wide?: boolean;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className={wide ? 'facts-wide' : undefined}>
      <dt>{term}</dt>
      <dd className={className}>{children}</dd>
    </div>
  );
}
