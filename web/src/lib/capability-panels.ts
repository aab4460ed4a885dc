// The host page's tabs, derived from the capability registry: each capability whose spec has a
// web.hostTab provides capabilities/<name>/Panel.svelte, loaded when its tab is first opened.

import type { Component } from 'svelte';
import { CAPABILITIES } from '../../../capabilities/index.ts';
import type { FleetState } from './state/fleet.svelte.ts';

/** What every host-tab panel receives. */
export interface PanelProps {
  fleet: FleetState;
  hostId: string;
}

/** A tab of the host page after Overview. */
export interface HostTab {
  /** The capability's name, also the tab's `?tab=` value. */
  name: string;
  label: string;
  load(): Promise<Component<PanelProps>>;
}

const panels = import.meta.glob<{ default: Component<PanelProps> }>('../../../capabilities/*/Panel.svelte');

/** The tabs, in their specs' order. */
export const HOST_TABS: readonly HostTab[] = CAPABILITIES.flatMap((spec) => {
  const tab = spec.web?.hostTab;
  const load = panels[`../../../capabilities/${spec.name}/Panel.svelte`];
  if (!tab || !load) return [];
  return [{ name: spec.name, label: tab.label, order: tab.order, load: async () => (await load()).default }];
})
  .sort((a, b) => a.order - b.order || a.label.localeCompare(b.label))
  .map(({ order: _order, ...tab }) => tab);
