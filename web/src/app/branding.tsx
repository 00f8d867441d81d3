// The operator's branding (RIZLER_BRAND_*), read once from the public settings route and
// applied to the page: its title, the accent colour, and the name and logo in the header.
import { useEffect, useState } from 'react';
import type { Branding } from '../api/types.js';

export const DEFAULT_BRANDING: Branding = {
  product_name: 'Rizler Webhooks',
  accent_color: null,
  logo_url: null,
};

export function useBranding(): Branding {
  const [branding, setBranding] = useState(DEFAULT_BRANDING);
  useEffect(() => {
    let live = true;
    fetch('/v1/dashboard-settings', { credentials: 'omit', cache: 'no-store' })
      .then((res) => (res.ok ? (res.json() as Promise<Branding>) : DEFAULT_BRANDING))
      .then((next) => {
        if (!live) return;
        setBranding(next);
        document.title = next.product_name;
        if (next.accent_color) {
          const root = document.documentElement.style;
          root.setProperty('--color-primary', next.accent_color);
          root.setProperty('--color-primary-hover', next.accent_color);
        }
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return branding;
}

export function BrandMark({ branding }: { branding: Branding }) {
  return (
    <div className="brand">
      {branding.logo_url ? (
        <img className="brand-logo" src={branding.logo_url} alt="" />
      ) : (
        <span className="brand-mark" aria-hidden="true" />
      )}
      <span>{branding.product_name}</span>
    </div>
  );
}
