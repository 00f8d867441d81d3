/**
 * Where the page sits in the navigation ("Setup › Webhooks › …"). Plain text on purpose: the
 * navigation already links each section, and a second "Webhooks" link would make the
 * page's links ambiguous to anyone finding them by name.
 */
export function Breadcrumbs({ items }: { items: { label: string }[] }) {
  return (
    <nav aria-label="Breadcrumb" className="breadcrumbs">
      <ol>
        {items.map((item, index) => (
          <li
            key={`${index}-${item.label}`}
            aria-current={index === items.length - 1 ? 'location' : undefined}
          >
            {item.label}
          </li>
        ))}
      </ol>
    </nav>
  );
}
