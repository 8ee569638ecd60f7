// Maps: Leaflet with no tiles by default (the district outlines the server
// sends are the base map, so the page works without internet), or the
// tiles of a configured tile server.

import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { state } from './state.js';
import { localName } from './i18n.js';

export { L };

/** gradeColour is the colour of an incident grade (I red, II orange, III yellow, IV blue). */
export const gradeColour = { 1: '#d7191c', 2: '#f07b05', 3: '#f2c500', 4: '#2b7bd6' };

const palette = ['#1f77b4', '#17becf', '#e6a100', '#2ca02c', '#d62728', '#ff7f0e', '#8c564b',
  '#9467bd', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79', '#637939', '#843c39'];

/** categoryColour gives each category code a stable colour. */
export function categoryColour(code) {
  const codes = [...state.categories.keys()];
  const i = codes.indexOf(code);
  if (i >= 0) return palette[i % palette.length];
  let hsh = 0;
  for (const ch of code) hsh = (hsh * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[hsh % palette.length];
}

/**
 * createMap makes a map in el over the service area: the configured tiles if
 * any, and the district outlines with their names.
 */
export function createMap(el, { label } = {}) {
  const map = L.map(el, {
    preferCanvas: true,
    zoomControl: true,
    zoomSnap: 0.25,
    attributionControl: Boolean(state.config.tile_url),
    keyboard: true,
  });
  if (label) el.setAttribute('aria-label', label);
  if (state.config.tile_url) {
    L.tileLayer(state.config.tile_url, { attribution: state.config.tile_attribution || '', maxZoom: 19 }).addTo(map);
    el.classList.add('with-tiles');
  }
  const districtLayer = L.geoJSON(state.districts || { type: 'FeatureCollection', features: [] }, {
    style: () => ({ color: '#5b6b82', weight: 1.5, fillColor: '#dfe6ef', fillOpacity: state.config.tile_url ? 0.05 : 0.55 }),
    interactive: false,
  }).addTo(map);
  const labels = L.layerGroup().addTo(map);
  const paintLabels = () => {
    labels.clearLayers();
    districtLayer.eachLayer((layer) => {
      const p = layer.feature.properties;
      const c = labelPoint(layer);
      labels.addLayer(L.marker(c, {
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: 'district-label', html: '', iconSize: null }),
      }).on('add', (ev) => { ev.target.getElement().textContent = localName(p); }));
    });
  };
  paintLabels();
  const b = districtLayer.getBounds();
  if (b.isValid()) map.fitBounds(b, { padding: [10, 10] });
  else map.setView([22.27, 113.55], 11);
  return { map, repaintLabels: paintLabels, districtBounds: b };
}

/**
 * labelPoint is where a district's name goes: the middle of its first
 * polygon (a district's mainland comes first; islands follow).
 */
function labelPoint(layer) {
  const g = layer.feature.geometry;
  if (g.type === 'MultiPolygon' && g.coordinates.length > 0) {
    return L.latLngBounds(g.coordinates[0][0].map(([lon, lat]) => [lat, lon])).getCenter();
  }
  return layer.getBounds().getCenter();
}

/**
 * incidentShape returns a layer for an incident: its hull when it is a
 * polygon, else a circle of its radius around the centroid, coloured by grade.
 */
export function incidentShape(inc, renderer) {
  const colour = gradeColour[inc.grade] || '#666';
  const style = {
    color: colour, weight: 3, fillColor: colour, fillOpacity: 0.28, dashArray: inc.state === 'open' ? '6 4' : null, renderer,
  };
  const latlng = [inc.centroid[1], inc.centroid[0]];
  const hull = inc.hull;
  if (hull && (hull.type === 'Polygon' || hull.type === 'MultiPolygon')) {
    return L.geoJSON(hull, { style: () => style, renderer });
  }
  return L.circle(latlng, { ...style, radius: Math.max(inc.radius_m || 0, 120) });
}

/**
 * textTip returns text as an element for a tooltip: Leaflet reads a string
 * as HTML, and a call's address or description must never be markup.
 */
export function textTip(text) {
  const el = document.createElement('span');
  el.textContent = text;
  return el;
}
