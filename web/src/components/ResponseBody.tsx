import { prettyBody } from '../app/format.js';

/** The body an endpoint answered with, pretty-printed when it is JSON; `short` caps its height. */
export function ResponseBody({
  body,
  short,
}: {
  body: string | null | undefined;
  short?: boolean;
}) {
  return (
    <>
      <p className="body-label">Response body</p>
      {body ? (
        <pre className={short ? 'code-block code-block-short' : 'code-block'} tabIndex={0}>
          {prettyBody(body)}
        </pre>
      ) : (
        <p className={short ? 'muted small' : 'muted'}>Empty</p>
      )}
    </>
  );
}
