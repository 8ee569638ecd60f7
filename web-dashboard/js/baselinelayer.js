// The baseline layer of the leader's map: the place cells shaded by the
// calls usual there in this hour of the week, and the detector's hot spots
// (live clusters below the alert level, which open no incident), from
// GET /api/v1/baseline. It is off until a leader turns it on from the map.

import { L, textTip } from './mapview.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { surgeNumber } from './messages.js';

const refreshEvery = 5 * 60 * 1000; // the hour's expectations change slowly

/**
 * baselineLayer adds the layer and its switch to map; dispose stops its
 * refreshes. The views are drawn anew when the language changes.
 */
export function baselineLayer(map) {
  const layer = L.layerGroup();
  let shown = false;
  let timer = null;
  let data = null;
  let failed = false;

  const box = L.DomUtil.create('div', 'leaflet-bar baseline-toggle');
  const label = L.DomUtil.create('label', '', box);
  const input = L.DomUtil.create('input', '', label);
  input.type = 'checkbox';
  input.dataset.testid = 'baseline-toggle';
  const text = L.DomUtil.create('span', '', label);
  const status = L.DomUtil.create('div', 'baseline-status muted', box);
  L.DomEvent.disableClickPropagation(box);
  L.DomEvent.disableScrollPropagation(box);
  const Toggle = L.Control.extend({ options: { position: 'topright' }, onAdd: () => box });
  new Toggle().addTo(map);

  function words() {
    text.textContent = ` ${t('map.baseline')}`;
    label.title = t('map.baseline.show');
    status.textContent = shown && failed ? t('map.baseline.unavailable') : '';
  }

  function paint() {
    layer.clearLayers();
    if (!data) return;
    const cells = data.features.filter((f) => f.properties.kind === 'cell');
    const top = Math.max(1e-9, ...cells.map((f) => f.properties.expected));
    for (const f of cells) {
      const e = f.properties.expected;
      const ring = f.geometry.coordinates[0].map(([lon, lat]) => [lat, lon]);
      const cell = L.polygon(ring, {
        stroke: false, fillColor: '#6a3d9a', fillOpacity: 0.08 + 0.5 * Math.sqrt(e / top), interactive: true,
      });
      cell.bindTooltip(() => textTip(t('map.baseline.cell', { expected: surgeNumber(e) })));
      layer.addLayer(cell);
    }
    for (const f of data.features.filter((x) => x.properties.kind === 'hotspot')) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      const spot = L.circle([lat, lon], {
        radius: Math.max(p.radius_m || 0, 100), color: '#444', weight: 2, dashArray: '4 4', fillOpacity: 0.05,
      });
      spot.bindTooltip(() => textTip(t('map.baseline.hotspot', {
        n: p.calls, expected: surgeNumber(p.expected), days: surgeNumber(p.recurrence_days),
      })));
      layer.addLayer(spot);
    }
  }

  async function load() {
    try {
      data = await api('GET', `/baseline?category=all&at=${encodeURIComponent(new Date().toISOString())}`);
      failed = false;
    } catch {
      data = null;
      failed = true;
    }
    if (shown) paint();
    words();
  }

  input.addEventListener('change', () => {
    shown = input.checked;
    clearInterval(timer);
    if (shown) {
      layer.addTo(map);
      load();
      timer = setInterval(load, refreshEvery);
    } else {
      layer.remove();
      layer.clearLayers();
    }
    words();
  });
  words();
  return { layer, dispose: () => clearInterval(timer) };
}
