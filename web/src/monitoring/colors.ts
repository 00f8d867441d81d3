// Chart colours, the same values as the CSS tokens (SVG attributes cannot read CSS
// variables everywhere). Chosen to stay distinguishable with the common colour-vision
// deficiencies; every series also has a legend entry and a data table.
export const CHART_COLORS = {
  succeeded: '#15803d',
  failed: '#dc2626',
  pending: '#d97706',
  p50: '#4f46e5',
  p95: '#db2777',
  grid: '#e5e7eb',
};
